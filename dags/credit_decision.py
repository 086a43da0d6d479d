"""# credit_decision

Decides every profiled application with the versioned rule set (`loanhub/flows/rule_sets/*.yaml`):
hard rejects, then a score; strong applications within the first amount tier are approved by
rule, weak ones rejected by rule, and the referral band goes to credit operations through
Airflow's human-in-the-loop review (**Required actions**), with a masked summary of the
profile. Approvers come from the amount's tier, and the person who requested the run cannot
approve it (maker != checker). Decisions are then posted into the LOS by the screen bot,
once per application.

Every decision records who or which rule decided it, and the rule set version.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, get_current_context, task

from dags.support.defaults import DECISIONS, START, default_args
from dags.support.review import OPTIONS, answer_of, review_request

DEFAULT_ARGS = default_args(2, timedelta(seconds=20))


def _maker() -> str:
    """Who asked for this run: the signed-in user who triggered it (UI, REST), else the
    form's ``requested_by`` (runs nobody signed in for: scheduled ones, and ``dag.test()``,
    which Airflow marks ``dag_test``)."""
    context = get_current_context()
    user = getattr(context["dag_run"], "triggering_user_name", None)
    signed_in = user not in (None, "", "dag_test")
    return str(user if signed_in else context["params"]["requested_by"])


@dag(
    dag_id="credit_decision",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["loanhub", "credit", "decision"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        "application_nos": Param(  # optional: its type allows null
            [],
            type=["null", "array"],
            items={"type": "string", "pattern": "^[A-Z0-9-]{4,32}$"},
            title="Application numbers",
            description="Optional. Leave empty for every profiled application not yet decided.",
        ),
        "rule_set": Param("credit-v1", type="string", pattern="^[a-z0-9-]+$", title="Rule set"),
        "requested_by": Param(
            "credit_ops",
            type="string",
            minLength=1,
            title="Requested by (the maker)",
            description="Used only when no signed-in user triggered the run (dag.test, CLI).",
        ),
    },
)
def credit_decision() -> None:
    @task
    def evaluate() -> list[dict[str, object]]:
        from loanhub.runtime import tasks

        params = get_current_context()["params"]
        return tasks.evaluate(params["application_nos"] or [], params["rule_set"], _maker())

    @task
    def review_requests(referrals: list[dict[str, object]]) -> list[dict[str, object]]:
        return [review_request(r) for r in referrals]

    review = HITLOperator.partial(
        task_id="credit_ops_review",
        options=OPTIONS,
        retries=0,
        params={
            "comment": Param(
                "",
                type=["null", "string"],
                maxLength=500,
                title="Comment",
                description="Optional: why, for the case file.",
            )
        },
    ).expand_kwargs(review_requests(referrals := evaluate()))

    @task(multiple_outputs=False, trigger_rule="none_failed")
    def record_reviews(referrals: list[dict[str, object]], answers: list[dict]) -> dict[str, int]:
        from loanhub.runtime import tasks

        params = get_current_context()["params"]
        outcomes: dict[str, int] = {}
        for referral, answer in zip(referrals, answers or [], strict=True):
            outcome = tasks.record_review(
                referral, **answer_of(answer), maker=_maker(), rule_set=params["rule_set"]
            )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return outcomes

    @task(pool="los", trigger_rule="none_failed", outlets=[DECISIONS])
    def post_to_los(_: dict[str, int]) -> int:
        """Settles the postings in doubt first, then posts each decision once."""
        from loanhub.runtime import tasks

        params = get_current_context()["params"]
        chosen = params["application_nos"] or []
        counts = tasks.post_decisions(tasks.decided_applications(chosen))
        return counts["posted"] + counts["waiting_for_checker"]

    post_to_los(record_reviews(referrals, review.output))


credit_decision_dag = credit_decision()
