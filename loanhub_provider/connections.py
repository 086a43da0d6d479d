"""The hub's legacy endpoints built from Airflow Connections, for the runtime to use in a task.

The runtime never imports Airflow: the DAG side installs ``connections_or_file`` as the
runtime's endpoints source (``loanhub.runtime.settings.use_endpoints``) when a task starts, and
the runtime calls it when it builds its connectors and bots.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from airflow.sdk.exceptions import AirflowNotFoundException

from loanhub.runtime.settings import LegacyEndpoints, LosEndpoint
from loanhub_provider.hooks import BureauHook, CoreHook, LosHook, PortalHook, SftpHook, SmtpHook

log = logging.getLogger(__name__)

DEFAULT_CONN_IDS: dict[str, str] = {s: f"loanhub_{s}" for s in LegacyEndpoints.SYSTEMS}


def endpoints_from_connections(conn_ids: Mapping[str, str] | None = None) -> LegacyEndpoints:
    """Every system's typed config from its connection (``conn_ids``: system -> conn id, the
    defaults ``loanhub_<system>`` for those not named), secrets registered with the masker.

    The LOS connection is the robot user alone; its ``approval_limit`` is that user's limit.
    Raises ``AirflowNotFoundException`` naming the connection that is not defined."""
    ids = {**DEFAULT_CONN_IDS, **(conn_ids or {})}
    los = LosHook(ids["los"])
    login = los.get_config()
    return LegacyEndpoints(
        bureau=BureauHook(ids["bureau"]).get_config(),
        core=CoreHook(ids["core"]).get_config(),
        sftp=SftpHook(ids["sftp"]).get_config(),
        smtp=SmtpHook(ids["smtp"]).get_config(),
        ss_portal=PortalHook(ids["ss_portal"]).get_config(),
        los=LosEndpoint(
            url=login.url,
            username=login.username,
            password=login.password,
            limit=str(los.approval_limit),
        ),
    )


_fallback_logged = False


def connections_or_file(conn_ids: Mapping[str, str] | None = None) -> LegacyEndpoints | None:
    """The endpoints from Connections; None when not one of them is defined, which the runtime
    reads as "use the endpoints file" (development only: logged once per process). Some
    defined and some not is a broken deployment, not a development setup: that raises."""
    global _fallback_logged
    ids = {**DEFAULT_CONN_IDS, **(conn_ids or {})}
    try:
        return endpoints_from_connections(ids)
    except AirflowNotFoundException as exc:
        missing = [c for c in ids.values() if not _defined(c)]
        if len(missing) < len(ids):
            raise AirflowNotFoundException(
                f"loanhub connections not defined: {', '.join(missing)} (the others are): "
                "define every one, or none in development"
            ) from exc
    if not _fallback_logged:
        log.warning(
            "no loanhub_* Airflow connection is defined: reading the endpoints file "
            "(development only; production defines the connections)"
        )
        _fallback_logged = True
    return None


def _defined(conn_id: str) -> bool:
    try:
        BureauHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
