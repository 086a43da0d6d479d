"""# repayment_sync

Nightly at 02:30 in the bank's time zone (`LOANHUB_TIMEZONE`): waits for the core's
`LNREPAY.D<YYMMDD>` extract of the business date (by default the bank's yesterday; written
whole, by rename, then checked by its trailer count and hash), loads it once (COPY and merge
on PostgreSQL; its bad records quarantined), reconciles it (every active hub loan in it, the
core's days past due equal to the hub's: totals returned, each discrepancy a warning), computes
each loan's days past due and five-tier class hint (正常 / 关注 / 次级 / 可疑 / 损失, by the 2023
risk classification rule, thresholds in settings), and raises early warnings: a missed
installment, a partial payment, days past due crossing 1 / 30 / 60 / 90. Emits the
`loanhub://warnings` asset. A file rejected as a whole is kept, raised as a warning (mailed by
`warning_notify` on the asset) and fails the run.

Deadline: done 6 h 15 min after it was queued (08:45 for the 02:30 run), else operations are
mailed (`dags/support/deadlines.py`, `LOANHUB_DEADLINES__REPAYMENT_SYNC` in minutes).
"""

from __future__ import annotations

from datetime import date, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from dags.support.deadlines import nightly_sync
from dags.support.defaults import START, WARNINGS, bank_cron, default_args
from dags.support.file_waits import ExtractLoadOperator

DEFAULT_ARGS = default_args(2, timedelta(minutes=2))


def _business_date() -> date:
    """The form's date, else the bank's yesterday at the run's logical date (02:30 Shanghai on
    the 5th works on the 4th; the UTC date then is already the 4th)."""
    from loanhub.runtime import tasks

    context = get_current_context()
    return tasks.business_date(context["params"].get("business_date"), context["logical_date"])


@dag(
    dag_id="repayment_sync",
    schedule=bank_cron("30 2 * * *"),  # 02:30 in the bank's time zone
    start_date=START,
    catchup=False,
    max_active_runs=1,
    deadline=nightly_sync(),
    tags=["loanhub", "repayments", "warnings"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        "business_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Business date",
            description="Optional. Leave empty for yesterday in the bank's time zone "
            "(LOANHUB_TIMEZONE).",
        )
    },
)
def repayment_sync() -> None:
    @task(multiple_outputs=False)
    def reconcile(report: dict) -> dict:
        from loanhub.runtime import tasks

        return tasks.reconcile_extract(_business_date(), report)

    @task(outlets=[WARNINGS])
    def raise_warnings(report: dict, _: dict) -> int:
        from loanhub.runtime import tasks

        if report.get("state") == "REJECTED":  # nothing new loaded: only its own warning
            return 0
        return tasks.raise_warnings(_business_date())

    @task(retries=0, multiple_outputs=False)  # the same file stays refused: rerun on a new one
    def extract_accepted(report: dict, _: int) -> dict:
        from loanhub.runtime import tasks

        return tasks.extract_accepted(report)

    # until the extract is there the wait is in the triggerer: no slot is held
    report = ExtractLoadOperator(
        task_id="extract_loaded",
        pool="core",
        business_date=_business_date,
        wait=timedelta(hours=6),
        poke_seconds=60,
    ).output
    extract_accepted(report, raise_warnings(report, reconcile(report)))


repayment_sync_dag = repayment_sync()
