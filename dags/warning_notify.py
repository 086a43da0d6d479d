"""# warning_notify

On every update of the `loanhub://warnings` asset (and hourly, for escalations): e-mails each
new early warning once over SMTP, masked, and escalates the ones nobody acknowledged within
the configured hours. One open warning per loan and rule: a condition seen again raises no new
warning and no new mail.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetOrTimeSchedule, dag, task

from dags.support.defaults import START, WARNINGS, bank_cron, default_args

DEFAULT_ARGS = default_args(3, timedelta(minutes=1))


@dag(
    dag_id="warning_notify",
    schedule=AssetOrTimeSchedule(timetable=bank_cron("0 * * * *"), assets=[WARNINGS]),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["loanhub", "warnings", "notifications"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
)
def warning_notify() -> None:
    @task(multiple_outputs=False)
    def notify() -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.notify_warnings()

    notify()


warning_notify_dag = warning_notify()
