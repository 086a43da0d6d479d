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
    """The connection for the simulators ``LOANHUB_SIM_DIR`` names, unless ``env`` already
    has one (a connection given by the caller wins); empty when there are no simulators."""
    env = os.environ if env is None else env
    sim_dir = env.get("LOANHUB_SIM_DIR")
    name = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    endpoints = Path(sim_dir or ".") / "endpoints.json"
    if name in env or not sim_dir or not endpoints.exists():
        return {}
    return sftp_connection_env(json.loads(endpoints.read_text()))
