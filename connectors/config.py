"""Typed configuration of each connector: endpoint, credentials, pinned key, timeouts, limits.

The hub fills them from its settings (the endpoints file, environment, or an Airflow
Connection in a DAG at run time); a connector never reads the environment itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from kernel.failures import Masker, RetryPolicy

__all__ = ["Masker", "RetryPolicy", "SftpConfig", "SftpLimits", "SmtpConfig", "SoapConfig"]


class SoapConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str
    wsdl: str
    username: str
    password: SecretStr
    operation_timeout: float = Field(
        default=30.0, gt=0, description="one hard deadline over connect, headers and body, seconds"
    )
    connect_timeout: float = Field(default=5.0, gt=0)
    wsdl_timeout: float | None = Field(
        default=None,
        gt=0,
        description="one deadline over the WSDL and the schemas it imports (None: the operation's)",
    )
    max_wsdl_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="cap on the WSDL and on each schema it imports"
    )
    max_response_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="cap on an answer")
    retry: RetryPolicy = RetryPolicy()

    @property
    def wsdl_deadline(self) -> float:
        """Seconds the WSDL and its schemas may take to load, all of them together."""
        return self.wsdl_timeout or self.operation_timeout


class SftpLimits(BaseModel):
    """The largest file of each kind the hub downloads, in bytes: a file above its cap is
    refused before a byte of it is read (``ContractError``), so a counterpart's mistake (or
    an attacker's 100 GB "answer") cannot fill the disk or hold a worker for hours. Set per
    kind as ``LOANHUB_SFTP_LIMITS__EXTRACT`` and so on."""

    model_config = ConfigDict(extra="ignore")

    extract: int = Field(
        default=2 << 30, gt=0, description="the nightly LNREPAY extract (2 GiB: ~24M records)"
    )
    tax_answer: int = Field(default=64 << 20, gt=0, description="a tax authority answer")
    status_report: int = Field(default=16 << 20, gt=0, description="a pain.002 status report")
    other: int = Field(default=64 << 20, gt=0, description="any other file taken")


class SftpConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    host: str
    port: int
    username: str
    private_key: Path
    host_key: str = Field(description="the pinned host key, OpenSSH public-key format")
    host_key_fingerprint: str = ""
    connect_timeout: float = 10.0
    io_timeout: float = Field(default=60.0, gt=0, description="longest wait for one SFTP reply")
    ciphers: tuple[str, ...] | None = Field(
        default=None, description="restrict the ciphers offered (None: paramiko's preference)"
    )
    retry: RetryPolicy = RetryPolicy()
    limits: SftpLimits = SftpLimits()


class SmtpConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    host: str
    port: int
    sender: str = "loanhub@bank.local"
    timeout: float = 10.0


class AirflowApiConfig(BaseModel):
    """Airflow's REST API, as ``loanhub harvest`` and ``loanhub reviews`` reach it
    (``LOANHUB_AIRFLOW_API__URL``, ``__USER``, ``__PASSWORD``)."""

    url: str = Field(default="http://127.0.0.1:8080", description="Airflow's API server")
    user: str = "credit_ops"
    password: SecretStr = SecretStr("")
