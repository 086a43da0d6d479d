"""What every loanhub DAG shares, said once: the assets that link them, the owner, the bank's
time zone and the start date in it, its cron schedules, the retry defaults (each DAG names
only its own retry count and delay), and the failure notice: a task that fails for good mails
operations (``loanhub_provider.notifications.LoanhubMailNotifier``, masked)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable

from dags.support.anchors import anchor_audit_head
from dags.support.connections import use_airflow_connections
from loanhub_provider.notifications import LoanhubMailNotifier
from schemas.types import DEFAULT_BANK_TIMEZONE

PROFILES = Asset("loanhub://profiles")
DECISIONS = Asset("loanhub://decisions")
WARNINGS = Asset("loanhub://warnings")
OWNER = "credit-integration"
# the bank's zone (loanhub.runtime.settings: LOANHUB_TIMEZONE), read from the environment at
# parse time (no Variable, no database): "30 2 * * *" means 02:30 in Shanghai, not in UTC
BANK_TIMEZONE = pendulum.timezone(os.environ.get("LOANHUB_TIMEZONE") or DEFAULT_BANK_TIMEZONE)
START = pendulum.datetime(2026, 1, 1, tz=BANK_TIMEZONE)


def bank_cron(expression: str) -> CronTriggerTimetable:
    """A cron schedule read on the bank's clock (a run at the time it names, no interval)."""
    return CronTriggerTimetable(expression, timezone=BANK_TIMEZONE)


def default_args(retries: int, retry_delay: timedelta, **more: Any) -> dict[str, Any]:
    """Every task also installs the Airflow Connections as the runtime's endpoints before it
    runs (``dags.support.connections``), mails a failure notice once its last try failed
    (a retry to come is no news), and anchors the audit chain's head when it ends, failed or
    not (``dags.support.anchors``)."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": retry_delay,
        "on_execute_callback": use_airflow_connections,
        "on_success_callback": [anchor_audit_head],
        "on_failure_callback": [LoanhubMailNotifier(), anchor_audit_head],
        **more,
    }
