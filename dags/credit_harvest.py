"""# credit_harvest

Gathers what an approval needs about each application: the credit bureau (SOAP), the core
banking system (SOAP), the tax authority (a request file over SFTP, then a wait for its answer
deferred to the triggerer, holding no worker slot) and the social-security portal (a
Playwright bot), normalised into the canonical store and condensed into one applicant profile
per application.

**Trigger** with the form: a list of application numbers, or none for every application
still received. `loanhub harvest APP...` does the same through the REST API.

Applications run in batches (`batch_size`): a task group mapped over the batches, one task per
batch and source, each in its legacy system's pool, so no system sees more concurrent calls
than the pool allows; a batch's profiles are built as soon as its own sources are done. Every
effect is once-only (bureau inquiries are work items; facts are stored by business key), so
retries are safe. Emits the `loanhub://profiles` asset.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task, task_group

from dags.support.defaults import PROFILES, START, default_args
from dags.support.tax_wait import TaxAnswerOperator

DEFAULT_ARGS = default_args(2, timedelta(seconds=20), retry_exponential_backoff=2.0)


@dag(
    dag_id="credit_harvest",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=4,
    tags=["loanhub", "credit", "harvest"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        # optional: a type without "null" makes the form mark a field required
        "application_nos": Param(
            [],
            type=["null", "array"],
            items={"type": "string", "pattern": "^[A-Z0-9-]{4,32}$"},
            title="Application numbers",
            description="Optional. Leave empty for every application still received.",
        ),
        "batch_size": Param(10, type="integer", minimum=1, maximum=200, title="Batch size"),
    },
)
def credit_harvest() -> None:
    @task
    def batches() -> list[list[str]]:
        from loanhub.runtime import tasks

        params = get_current_context()["params"]
        return tasks.harvest_batches(params["application_nos"] or [], params["batch_size"])

    @task(multiple_outputs=False, pool="bureau", retries=3)
    def bureau(batch: list[str]) -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.harvest_source("bureau", batch)

    @task(multiple_outputs=False, pool="core", retries=3)
    def core(batch: list[str]) -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.harvest_source("core", batch)

    @task(multiple_outputs=False, pool="social_security", retries=2)
    def social_security(batch: list[str]) -> dict[str, int]:
        from loanhub.runtime import tasks

        return tasks.harvest_source("social_security", batch)

    @task(multiple_outputs=False, pool="tax")
    def tax_request(batch: list[str]) -> dict[str, object]:
        from loanhub.runtime import tasks

        return tasks.submit_tax(batch)

    @task(outlets=[PROFILES], trigger_rule="all_done")
    def profiles(batch: list[str]) -> int:
        """Whatever the sources gave (one that failed shows as missing, and the rules then
        refer the application to a person rather than decide without it)."""
        from loanhub.runtime import tasks

        return tasks.build_profiles(batch)

    @task_group
    def batch(applications: list[str]) -> None:
        """One batch through every source, then its profiles: a batch's profiles wait only
        for its own sources, not for the slowest batch of the run."""
        tax = TaxAnswerOperator(task_id="tax_answer", pool="tax", request=tax_request(applications))
        sources = [bureau(applications), core(applications), social_security(applications), tax]
        sources >> profiles(applications)

    batch.expand(applications=batches())


credit_harvest_dag = credit_harvest()
