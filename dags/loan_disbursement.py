"""# loan_disbursement

Pays out approved loans: every approval the LOS holds becomes a loan and its tranche, each
tranche one ISO 20022 `pain.001.001.09` (validated against the official XSD) uploaded to the
core's payment gateway over SFTP; the gateway's `pain.002` reports settle it; a
reconciliation fails the run if any tranche were ever paid twice.

Exactly one payment per loan tranche across retries, clears and crashed workers: a work item
per tranche, an `EndToEndId` derived from loan and tranche (the gateway refuses a repeat), and
an item left in doubt is settled by reading the gateway's reports, never by sending again.
Runs when new decisions are posted, and hourly for what is still in flight.

Deadline: done 90 minutes after it was queued (the payments sent and settled), else operations
are mailed (`dags/support/deadlines.py`, `LOANHUB_DEADLINES__LOAN_DISBURSEMENT` in minutes).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetOrTimeSchedule, dag, task

from dags.support.deadlines import disbursements
from dags.support.defaults import DECISIONS, START, bank_cron, default_args
from dags.support.file_waits import SettlePaymentsOperator

DEFAULT_ARGS = default_args(3, timedelta(seconds=30))


@dag(
    dag_id="loan_disbursement",
    schedule=AssetOrTimeSchedule(timetable=bank_cron("15 * * * *"), assets=[DECISIONS]),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    deadline=disbursements(),
    tags=["loanhub", "disbursement", "payments"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
)
def loan_disbursement() -> None:
    @task(multiple_outputs=False, pool="gateway")
    def settle_doubts() -> dict:
        """First, before anything is sent: payments whose upload outcome is unknown are
        settled by reading the gateway."""
        from loanhub.runtime import tasks

        return tasks.settle_doubts()

    @task(pool="los")
    def refresh_checker_decisions(_: dict) -> int:
        """Approvals that waited for the LOS checker: read their LOS status again."""
        from loanhub.runtime import tasks

        return tasks.refresh_pending_reviews()

    @task
    def book_loans(_: int) -> int:
        from loanhub.runtime import tasks

        return len(tasks.book_loans())

    @task(pool="gateway")
    def send_payments(_: int) -> int:
        from loanhub.runtime import tasks

        return tasks.send_payments()["sent"]

    @task(multiple_outputs=False)
    def reconcile(_: dict) -> dict:
        from loanhub.runtime import tasks

        return tasks.reconcile_payments()

    # between looks at the gateway's reports the wait is in the triggerer: no slot is held
    settled = SettlePaymentsOperator(task_id="settled", pool="gateway", wait=timedelta(hours=1))
    send_payments(book_loans(refresh_checker_decisions(settle_doubts()))) >> settled
    reconcile(settled.output)


loan_disbursement_dag = loan_disbursement()
