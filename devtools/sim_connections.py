"""The simulators' SFTP exchange as the Airflow connection ``loanhub_sftp``, for development.

The deferred waits' trigger reads the SFTP exchange from an Airflow connection only (in the
triggerer, ``BaseHook.aget_connection``). Until ``loanhub sim up`` writes the simulators'
connections itself (issue 20, ``airflow.env``), the local runs (``devtools.run``, the local
cluster, so the demo) and the tests build it here from the simulators' ``endpoints.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

CONN_ID = "loanhub_sftp"


def sftp_connection_env(endpoints: Mapping, conn_id: str = CONN_ID) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` (JSON) in the shape of the shared contract: host, port, login,
    extra ``private_key_path`` and the pinned ``host_key``."""
    sftp = endpoints["sftp"]
    conn = {
        "conn_type": "loanhub_sftp",
        "host": sftp["host"],
        "port": sftp["port"],
        "login": sftp["username"],
        "extra": {"private_key_path": sftp["private_key"], "host_key": sftp["host_key"]},
    }
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)}


def sim_connection_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The connection for the simulators the hub's settings name (``LOANHUB_ENDPOINTS_FILE``,
    ``LOANHUB_SIM_DIR``, else the data directory's ``sim/``), unless the environment already
    has one (a connection given by the caller wins); empty when no simulators run there.
    ``env``: another process's environment (the local cluster's); default this process's."""
    name = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    if name in (os.environ if env is None else env):
        return {}
    if env is None:
        from loanhub.runtime.settings import HubSettings

        endpoints = HubSettings().endpoints_path
    elif env.get("LOANHUB_ENDPOINTS_FILE"):
        endpoints = Path(env["LOANHUB_ENDPOINTS_FILE"])
    elif env.get("LOANHUB_SIM_DIR"):
        endpoints = Path(env["LOANHUB_SIM_DIR"]) / "endpoints.json"
    else:
        return {}
    if not endpoints.exists():
        return {}
    return sftp_connection_env(json.loads(endpoints.read_text()))
