"""What every work item that is not finished waits on, and the ones that wait on nothing.

A NEEDS_HUMAN item waits for a person (credit ops, an operator, the LOS's checker); an
IN_DOUBT item waits for its system's reader (``loanhub settle``). An item whose cause is
already settled in the store (a posting that waited for the LOS checker although the hub has
read the checker's answer, or whose application is already lent or paid out; an approval
waiting for its payee account although it is lent) waits on nothing:
it would stay open for ever and mislead whoever reads the queue. ``stuck`` lists those; the
demo and ``loanhub items check`` assert it is empty. It reads the store only (no legacy
system): a check that can run anywhere, any time. A CLOSED item (an operator's word that a
person settled it outside the hub, ``loanhub.flows.operator_actions``) waits on nothing by
design and is not listed; reopened, it is NEEDS_HUMAN and checked again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from loanhub.flows.decide import KIND as LOS_DECISION
from loanhub.flows.decide import posting_of
from loanhub.flows.disburse import PAYEE_KIND
from loanhub.flows.returns import RETURN_NOTICE
from loanhub.platform.ledger import WorkItemLedger
from schemas.hub import WorkItem, WorkItemState
from schemas.tables import application, decision, loan

SYSTEM_OF = {
    LOS_DECISION: "the LOS",
    "bureau_query": "the credit bureau",
    "payment": "the payment gateway",
    "payment_conflict": "the payment gateway",
    "warning_mail": "the mail server (SMTP)",
    "warning_escalation": "the mail server (SMTP)",
    RETURN_NOTICE: "the mail server (SMTP)",
    PAYEE_KIND: "credit operations",
}
"""Who answers for each kind of work item: the system whose reader settles it."""

LOS_CHECKER = "the LOS's checker (a second LOS user, 复核)"
PAYEE_OPERATOR = "an operator naming the account to pay into (loanhub payments payee)"


@dataclass(frozen=True)
class Waiting:
    """One unfinished item: what it waits on, and why it waits on nothing (``stuck``)."""

    kind: str
    business_key: str
    state: str
    waits_on: str
    reason: str
    stuck: str | None = None


def waiting_items(engine: Engine) -> list[Waiting]:
    """Every NEEDS_HUMAN and IN_DOUBT item with what it waits on (masked reasons only)."""
    ledger = WorkItemLedger(engine)
    with engine.connect() as conn:
        los_status = {
            (number, round): status
            for number, round, status in conn.execute(
                select(decision.c.application_no, decision.c.round, decision.c.los_status)
            ).tuples()
        }
        app_status = dict(
            conn.execute(select(application.c.application_no, application.c.status)).tuples().all()
        )
        lent = set(conn.execute(select(loan.c.application_no)).scalars())
    found = []
    for state in (WorkItemState.NEEDS_HUMAN, WorkItemState.IN_DOUBT):
        for item in ledger.items(state):
            found.append(_waiting(item, los_status, app_status, lent))
    return found


def stuck(engine: Engine) -> list[Waiting]:
    """The items that wait on nothing: each names why (empty when all is well)."""
    return [w for w in waiting_items(engine) if w.stuck]


def _waiting(
    item: WorkItem,
    los_status: dict[tuple[str, int], str | None],
    app_status: dict[str, str],
    lent: set[str],
) -> Waiting:
    system = SYSTEM_OF.get(item.kind, f"the system of {item.kind}")
    reason = (item.error or "")[:200]
    if item.state is WorkItemState.IN_DOUBT:
        waits_on, why = f"{system}'s reader (loanhub settle)", None
    elif (item.result or {}).get("waiting_for"):
        waits_on, why = LOS_CHECKER, None
        status = los_status.get(posting_of(item.business_key))
        if status not in (None, "PENDING_REVIEW"):
            why = f"the hub already read the checker's answer: LOS status {status}"
    else:
        person = PAYEE_OPERATOR if item.kind == PAYEE_KIND else None
        waits_on, why = person or "a person (loanhub items list / release)", None
        if not reason:
            why = "NEEDS_HUMAN without a reason: nobody can know what to do"
    number, _ = (
        posting_of(item.business_key) if item.kind == LOS_DECISION else (item.business_key, 1)
    )
    lent_already = number in lent or app_status.get(number) == "DISBURSED"
    if why is None and item.kind in (LOS_DECISION, PAYEE_KIND) and lent_already:
        why = f"application {number} is already lent"
    return Waiting(item.kind, item.business_key, item.state.value, waits_on, reason, why)
