"""What every loanhub DAG shares, said once: the assets that link them, the owner, the start
date and the retry defaults (each DAG names only its own retry count and delay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset

from dags.support.connections import use_airflow_connections

PROFILES = Asset("loanhub://profiles")
DECISIONS = Asset("loanhub://decisions")
WARNINGS = Asset("loanhub://warnings")
OWNER = "credit-integration"
START = datetime(2026, 1, 1, tzinfo=UTC)


def default_args(retries: int, retry_delay: timedelta, **more: Any) -> dict[str, Any]:
    """Every task also installs the Airflow Connections as the runtime's endpoints before it
    runs (``dags.support.connections``)."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": retry_delay,
        "on_execute_callback": use_airflow_connections,
        **more,
    }
