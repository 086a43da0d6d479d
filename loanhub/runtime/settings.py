"""Typed settings of the hub, filled from the environment (``LOANHUB_*``) at run time.

Nothing reads the environment anywhere else: a component receives the settings object it
needs, so a test or a DAG can build one explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bots.config import LosLogin, PortalLogin
from connectors.config import AirflowApiConfig, SftpConfig, SftpLimits, SmtpConfig, SoapConfig
from loanhub.flows.actors import actor as checked_actor
from loanhub.flows.reconciliation import ReconciliationPolicy
from loanhub.flows.retention import RetentionAreas, RetentionPolicy
from loanhub.flows.warnings import WarningPolicy
from loanhub.platform.audit_keys import DEFAULT_DATA_DIR, AuditKeyring, AuditSettings
from loanhub.platform.ledger import LedgerSettings
from schemas.types import DEFAULT_BANK_TIMEZONE, TimeZoneName


class LosEndpoint(BaseModel):
    """The LOS and the hub's one user there (the robot). The LOS's checker, its second user, is
    a person: the hub never holds their credentials (devtools plays them in development)."""

    url: str
    username: str
    password: SecretStr
    limit: str | None = Field(
        default=None, description="the largest amount the robot may approve alone"
    )

    def login(self, username: str | None = None) -> LosLogin:
        """The robot's login; the hub has no other LOS user to name."""
        if username not in (None, self.username):
            raise KeyError(f"no LOS user {username!r}: the hub logs in as {self.username} only")
        return LosLogin(url=self.url, username=self.username, password=self.password)


class LegacyEndpoints(BaseModel):
    """Where each legacy system answers and the hub's credentials there. In production the DAG
    side builds it from Airflow Connections (``loanhub_<system>``); the endpoints file the
    simulators write (``LOANHUB_ENDPOINTS_FILE``) is a development fallback only."""

    bureau: SoapConfig
    core: SoapConfig
    sftp: SftpConfig
    smtp: SmtpConfig
    ss_portal: PortalLogin
    los: LosEndpoint

    SYSTEMS: ClassVar[tuple[str, ...]] = ("bureau", "core", "sftp", "smtp", "ss_portal", "los")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> LegacyEndpoints:
        """A deployment's endpoints, one JSON object per system in ``LOANHUB_ENDPOINT_<SYSTEM>``
        (the SFTP one must pin the server's host key: ``host_key``, OpenSSH format)."""
        missing = [s for s in cls.SYSTEMS if f"LOANHUB_ENDPOINT_{s.upper()}" not in environ]
        if missing:
            names = ", ".join(f"LOANHUB_ENDPOINT_{s.upper()}" for s in missing)
            raise ValueError(f"not set: {names}")
        return cls.model_validate(
            {s: json.loads(environ[f"LOANHUB_ENDPOINT_{s.upper()}"]) for s in cls.SYSTEMS}
        )

    @classmethod
    def load(cls, path: Path) -> LegacyEndpoints:
        if not path.exists():
            raise FileNotFoundError(
                f"no endpoints file at {path}: start the simulators "
                "(loanhub sim up) or point LOANHUB_SIM_DIR at one"
            )
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


EndpointsSource = Callable[[], "LegacyEndpoints | None"]
"""Where a process's endpoints come from instead of the file: in an Airflow task, the
Connections (``loanhub_provider.connections.connections_or_file``, installed by the DAG side).
None from the source means "none defined here": the endpoints file is read (development)."""

_endpoints_source: list[EndpointsSource] = []


def use_endpoints(source: EndpointsSource | None) -> None:
    """Install (or, with None, remove) this process's endpoints source. The runtime imports no
    Airflow: the DAG side hands it the Connections this way, at task run time."""
    _endpoints_source[:] = [source] if source is not None else []


class OrchestrationSettings(BaseModel):
    """How the DAGs spread work over the legacy systems (``LOANHUB_ORCHESTRATION__*``)."""

    pools: dict[str, int] = Field(
        default={"bureau": 4, "core": 4, "tax": 1, "social_security": 1, "los": 1, "gateway": 1},
        description="Airflow pool per legacy system: the most calls each tolerates at once",
    )
    harvest_batch_size: int = Field(default=10, ge=1, le=200)
    tax_wait_seconds: int = Field(
        default=3600, ge=1, description="how long the tax answer may take before the run fails"
    )


class DashboardSettings(BaseModel):
    """The monitoring dashboard's login and metrics (``LOANHUB_DASHBOARD__*``)."""

    secret: SecretStr | None = Field(
        default=None,
        description="signs the dashboard's session cookies; unset: one kept under data_dir",
    )
    users_file: Path | None = Field(
        default=None, description="the dashboard's users (scrypt hashes); unset: under data_dir"
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="bearer token Prometheus sends to /metrics; unset: open"
    )
    lockout_user_failures: int = Field(
        default=5, ge=1, description="failed logins of one user that lock that user out"
    )
    lockout_address_failures: int = Field(
        default=20, ge=1, description="failed logins from one address that lock it out"
    )
    lockout_minutes: int = Field(
        default=15, ge=1, description="the window failures are counted in, and the lock-out"
    )
    language: Literal["zh-CN", "en"] = Field(
        default="zh-CN",
        description="the dashboard's language for whoever has not chosen one with its switch",
    )
    refresh_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="every page reloads itself this often (a person may pause it); 0: never",
    )
    extract_due: time = Field(
        default=time(2, 30),
        description="when the core's nightly extract of a business date is due: the next "
        "morning at this time in the bank's time zone (repayment_sync looks for it then)",
    )
    extract_grace_minutes: int = Field(
        default=30,
        ge=0,
        description="a nightly extract loaded this long after it was due is still on time "
        "(the hub's first look and the load itself)",
    )


RetentionSettings = RetentionPolicy
"""The retention's spec, defined beside the purge that reads it (``loanhub.flows.retention``)."""


class AlertSettings(BaseModel):
    """Who hears of a failed DAG task or a run past its deadline (``LOANHUB_ALERTS__*``): the
    Airflow side's notifications, mailed over the ``loanhub_smtp`` connection. Prometheus
    alerts are routed by the bank's Alertmanager instead (docs/operations.md, Alerting)."""

    recipients: list[str] = Field(
        default=["hub-operations@bank.local"],
        description="mailboxes of DAG failure and deadline notices",
    )


class ArchiveSettings(BaseModel):
    """Where closed applications' case files are archived (``LOANHUB_ARCHIVE__*``)."""

    dir: Path | None = Field(
        default=None, description="the archive directory (owner-only); unset: data_dir/archive"
    )
    lang: str = Field(
        default="zh-CN",
        min_length=2,
        max_length=10,
        description="the language the archived case file is rendered in",
    )


def _checked_actor(name: str) -> str:
    """``LOANHUB_ACTOR`` as the audit chain may name it, for DAG tasks and commands alike."""
    return checked_actor(name, "LOANHUB_ACTOR")


class HubSettings(BaseSettings):
    """Where the hub keeps its store, and one small typed spec per component.

    A component's spec is a field of its own, set in the environment as
    ``LOANHUB_<COMPONENT>__<FIELD>`` (``LOANHUB_LEDGER__LEASE_SECONDS=600``); the specs that a
    flow or a platform service reads are defined beside it, so that it needs no settings object.
    """

    model_config = SettingsConfigDict(
        env_prefix="LOANHUB_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR, description="embedded store, kept files and evidence live here"
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; unset means the embedded SQLite file",
    )
    database_owner_url: str | None = Field(
        default=None,
        description="the store as the role that owns its tables, for `loanhub db upgrade` "
        "and `db grant` only (PostgreSQL); unset: database_url (development)",
    )
    actor: Annotated[str, AfterValidator(_checked_actor)] = Field(
        default="loanhub",
        description="who the audit chain names by default (a name, loanhub.flows.actors)",
    )
    timezone: TimeZoneName = Field(
        default=DEFAULT_BANK_TIMEZONE,
        description="the bank's time zone (IANA): schedules, business dates, 'today', times shown",
    )
    sim_dir: Path | None = Field(
        default=None, description="the simulators' data directory; unset means data_dir/sim"
    )
    endpoints_file: Path | None = Field(
        default=None,
        description="development fallback only (production: Airflow Connections): where the "
        "legacy systems answer (JSON); unset: the simulators' file",
    )
    airflow_db_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "LOANHUB_AIRFLOW_DB_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
        ),
        description="Airflow's metadata DB, read (never written) for the dashboard's runs",
    )

    ledger: LedgerSettings = LedgerSettings()
    # the largest file of each kind taken over SFTP (``LOANHUB_SFTP_LIMITS__EXTRACT`` ...): the
    # hub's policy, not the endpoint's, so it applies whatever Connection names the server
    sftp_limits: SftpLimits = SftpLimits()
    warnings: WarningPolicy = WarningPolicy()
    reconciliation: ReconciliationPolicy = ReconciliationPolicy()
    orchestration: OrchestrationSettings = OrchestrationSettings()
    airflow_api: AirflowApiConfig = AirflowApiConfig()
    dashboard: DashboardSettings = DashboardSettings()
    retention: RetentionPolicy = RetentionPolicy()
    archive: ArchiveSettings = ArchiveSettings()
    alerts: AlertSettings = AlertSettings()
    audit: AuditSettings = AuditSettings()

    @property
    def audit_keyring(self) -> AuditKeyring:
        """The audit chain's key (``LOANHUB_AUDIT__KEY`` or the key file) and anchor directory."""
        return self.audit.keyring(self.data_dir)

    @property
    def owner_store_url(self) -> str:
        """The store as its tables' owner: what migrates it and grants the runtime its rights."""
        return self.database_owner_url or self.store_url

    @property
    def screen_evidence_dir(self) -> Path:
        """Where the bots file screenshots and traces when they stop."""
        return self.data_dir / "evidence" / "screens"

    @property
    def archive_dir(self) -> Path:
        """Where closed applications' case files are archived (never purged)."""
        return self.archive.dir or self.data_dir / "archive"

    @property
    def retention_areas(self) -> RetentionAreas:
        """Where each kind the retention purges lives, and the archive it never touches."""
        evidence = self.data_dir / "evidence"
        return RetentionAreas(
            raw_payloads=evidence / "raw",
            exchanges=evidence / "masked",
            kept_files=self.data_dir / "files",
            screens=self.screen_evidence_dir,
            archive=self.archive_dir,
        )

    @property
    def dashboard_users_path(self) -> Path:
        return self.dashboard.users_file or self.data_dir / "dashboard-users.json"

    @property
    def simulators_dir(self) -> Path:
        return self.sim_dir or self.data_dir / "sim"

    @property
    def endpoints_path(self) -> Path:
        return self.endpoints_file or self.simulators_dir / "endpoints.json"

    def legacy_endpoints(self) -> LegacyEndpoints:
        """Where the legacy systems answer, at call time: from the installed source (Airflow
        Connections in a task, ``use_endpoints``), else from the endpoints file."""
        for source in _endpoints_source:
            if (endpoints := source()) is not None:
                return endpoints
        return LegacyEndpoints.load(self.endpoints_path)

    @property
    def store_url(self) -> str:
        """The store's URL: the configured one, or SQLite under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'loanhub.db').resolve()}"
