"""The runs that must be done by a time, as Airflow's own deadline alerts (``DeadlineAlert``).

Counted from when the run was queued (``DAGRUN_QUEUED_AT``): a scheduled run is queued at its
cron time, and a run triggered by hand (whose logical date may be empty) is held to the same
span from when it was asked for. When the span passes and the run is not done, the
scheduler marks the deadline missed and the triggerer runs the callback: the hub's mail
notifier (``loanhub_provider.notifications``), which mails ``LOANHUB_ALERTS__RECIPIENTS``.

- **the nightly sync** (``repayment_sync``, queued at 02:30 in the bank's zone): its extract
  wait gives the core until 08:30; loaded, reconciled and its warnings raised by **08:45**,
  before the branches open: 6 h 15 min.
- **the day's disbursements** (``loan_disbursement``, hourly and on new decisions): a run
  sends its payments and waits up to an hour for the gateway's reports; 90 minutes after it
  was queued, payments of the day are not settled and may miss the payment system's cut-off.

Each span can be changed per deployment, in minutes, with ``LOANHUB_DEADLINES__<DAG_ID>``
(e.g. ``LOANHUB_DEADLINES__REPAYMENT_SYNC=400``), read when the DAG file is parsed, like the
bank's time zone (no database, no Variable: a missing Variable would drop the deadline).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from loanhub_provider.notifications import LoanhubMailNotifier

NIGHTLY_SYNC = timedelta(hours=6, minutes=15)
DISBURSEMENT = timedelta(minutes=90)


def span(dag_id: str, default: timedelta) -> timedelta:
    """The deadline's span for ``dag_id``: the environment's minutes, else ``default``."""
    given = os.environ.get(f"LOANHUB_DEADLINES__{dag_id.upper()}")
    if not given:
        return default
    minutes = float(given)
    if minutes <= 0:
        raise ValueError(f"LOANHUB_DEADLINES__{dag_id.upper()} must be minutes > 0: {given!r}")
    return timedelta(minutes=minutes)


def deadline(dag_id: str, default: timedelta, what: str) -> DeadlineAlert:
    """A deadline ``span`` after the run was queued, mailed when missed."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=span(dag_id, default),
        callback=AsyncCallback(LoanhubMailNotifier, kwargs={"what": what}),
        name=f"{dag_id} deadline",
    )


def nightly_sync() -> DeadlineAlert:
    return deadline(
        "repayment_sync",
        NIGHTLY_SYNC,
        "The nightly repayment extract must be loaded, reconciled and its warnings raised "
        "before the branches open: days past due and warnings are yesterday's until then.",
    )


def disbursements() -> DeadlineAlert:
    return deadline(
        "loan_disbursement",
        DISBURSEMENT,
        "The day's payments must be sent and settled by the gateway before the payment "
        "system's cut-off: borrowers wait for their money until then.",
    )
