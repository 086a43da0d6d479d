"""# post_loan_monitoring

Weekly (Mondays 03:00 in the bank's time zone, `LOANHUB_TIMEZONE`), for every active loan:
the credit bureau again (query reason 02, post-loan; a report younger than 30 days is
reused, so a subject is queried at most monthly), the social-security portal again, and the
tax authority again (a request file, its answer awaited in the triggerer); warnings for new
overdue at other lenders, contributions stopped or owed, and a tax rating downgrade since
origination. Emits the `loanhub://warnings` asset.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from dags.support.defaults import START, WARNINGS, bank_cron, default_args
from dags.support.tax_wait import TaxAnswerOperator

DEFAULT_ARGS = default_args(2, timedelta(minutes=5))


@dag(
    dag_id="post_loan_monitoring",
    schedule=bank_cron("0 3 * * 1"),  # Mondays 03:00, the bank's time
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["loanhub", "monitoring", "warnings"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
)
def post_loan_monitoring() -> None:
    @task
    def active_loans() -> list[list[str]]:
        from loanhub.runtime import tasks

        found = tasks.active_loan_applications()
        return [found[i : i + 20] for i in range(0, len(found), 20)]

    @task(pool="bureau", multiple_outputs=False)
    def bureau(batch: list[str]) -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.repull("bureau", batch)

    @task(pool="social_security", multiple_outputs=False)
    def social_security(batch: list[str]) -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.repull("social_security", batch)

    @task(multiple_outputs=False, pool="tax")
    def tax_request(batch: list[str]) -> dict[str, object]:
        from loanhub.runtime import tasks

        return tasks.submit_tax(batch, purpose="post_loan")

    @task(outlets=[WARNINGS], trigger_rule="all_done")
    def warnings(batch: list[str]) -> int:
        from loanhub.runtime import tasks

        return tasks.post_loan_warnings(batch)

    loans = active_loans()
    [
        bureau.expand(batch=loans),
        social_security.expand(batch=loans),
        TaxAnswerOperator.partial(task_id="tax_answer", pool="tax").expand(
            request=tax_request.expand(batch=loans)
        ),
    ] >> warnings.expand(batch=loans)


post_loan_monitoring_dag = post_loan_monitoring()
