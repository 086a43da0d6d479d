"""# audit_anchor

Hourly, at five past: the audit chain's head (number and hash) is anchored outside the store,
one new read-only file keyed with the audit key in `LOANHUB_AUDIT__ANCHOR_DIR`, even when no
DAG ran (operator actions, the dashboard, the CLI append too). Every loanhub task also anchors
when it ends. `loanhub audit verify` requires every anchored event to be in the chain,
unchanged, and the chain to reach the newest anchor: a store whose newest events were
deleted, or an older copy put back, shows. The same as `loanhub audit anchor`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from dags.support.defaults import START, bank_cron, default_args

DEFAULT_ARGS = default_args(2, timedelta(minutes=2))


@dag(
    dag_id="audit_anchor",
    schedule=bank_cron("5 * * * *"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["loanhub", "audit"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
)
def audit_anchor() -> None:
    @task(multiple_outputs=False)
    def anchor_head() -> dict[str, Any]:
        from loanhub.runtime import tasks

        return tasks.anchor_audit()

    anchor_head()


audit_anchor_dag = audit_anchor()
