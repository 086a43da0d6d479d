"""# hub_housekeeping

Daily at 04:30 in the bank's time zone (`LOANHUB_TIMEZONE`), after the nightly repayment sync:

1. **archive_closed_cases**: the case file of every application closed since (rejected and in
   the LOS, or paid and settled) is archived once as one self-contained HTML file, owner-only,
   under `LOANHUB_ARCHIVE__DIR`; its SHA-256 is the audit event `case.archived`. The run fails
   when one could not be archived (it is tried again the next day; the others are archived).
2. **purge_retention**: what is older than its retention (`LOANHUB_RETENTION__*`: journaled
   calls, raw payloads, kept files, bot evidence, and the personal data of applications closed
   and archived longer than the retention) is purged, never what the archive keeps; each kind's
   purge is the audit event `retention.purged`. Runs even when archiving failed: it clears
   personal data of archived applications only.
3. **verify_audit_chain**: the whole audit chain walked (hashes, links, MACs, anchors), the
   result recorded for `/metrics` and the chain alerts, an intact head anchored; a broken
   chain fails the run (its failure notice is mailed) naming the first broken link.

The same as `loanhub archive run`, `loanhub retention purge` and `loanhub audit verify`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from dags.support.defaults import START, bank_cron, default_args

DEFAULT_ARGS = default_args(2, timedelta(minutes=5))


@dag(
    dag_id="hub_housekeeping",
    schedule=bank_cron("30 4 * * *"),  # 04:30 in the bank's time zone
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["loanhub", "archive", "retention"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
)
def hub_housekeeping() -> None:
    @task(multiple_outputs=False)
    def archive_closed_cases() -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.archive_closed_cases()

    @task(multiple_outputs=False, trigger_rule="all_done")
    def purge_retention() -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.purge_retention()

    @task(multiple_outputs=False, trigger_rule="all_done")
    def verify_audit_chain() -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.verify_audit_chain()

    archive_closed_cases() >> purge_retention() >> verify_audit_chain()


hub_housekeeping_dag = hub_housekeeping()
