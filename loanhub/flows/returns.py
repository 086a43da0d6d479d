"""Return for more documents (退回补件): the application goes back to the applicant.

A return is a decision like approve and reject (``decide.record_review`` with "Return" and a
reason); it is posted into the LOS by the same once-only submission (``decide.post_decisions``:
the status page read before every submit, one work item per application), and the hub's
application is RETURNED with the reason kept on the decision. Then:

- credit ops is told once per return, by mail (``notify_returns``: one work item per return
  under a Message-ID derived from it, so a retry never mails twice);
- the next intake of the same application number re-opens it (``reopen``, from
  ``intake.load_applicants``): RECEIVED again in its next decision round, audited with the
  reason it was returned for, so the next harvest takes it up, its new profile is decided
  again and that round's decision is posted once (``decide``: one decision and one posting
  per application and round); the bureau report of the first round is reused while it is
  younger than 30 days (``harvest.BureauInquiries``: one inquiry per application, subject and
  reason), so the return costs the applicant no second hard inquiry.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, Engine, and_, select, update

from connectors.smtp import Notifier, message_id_for
from kernel.calls import call_subject
from kernel.failures import LegacyError
from loanhub.platform import audit
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemError
from schemas.tables import application, decision

RETURN_NOTICE = "return_notice"
CREDIT_OPS = ["credit-ops@bank.local"]
"""Who is told of a return: credit operations, who chase the applicant for the documents."""

log = logging.getLogger(__name__)


def returned(engine: Engine) -> list[dict[str, Any]]:
    """Returns the LOS has taken (a reference) on applications still RETURNED in the hub."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                decision.c.application_no,
                decision.c.los_reference,
                decision.c.comment,
                decision.c.decided_by,
            )
            .join(
                application,
                and_(
                    application.c.application_no == decision.c.application_no,
                    application.c.round == decision.c.round,  # this round's return
                ),
            )
            .where(
                decision.c.outcome == "RETURN",
                decision.c.los_reference.is_not(None),
                application.c.status == "RETURNED",
            )
            .order_by(decision.c.application_no)
        ).mappings()
        return [dict(r) for r in rows]


def notice(row: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of a return's mail, from the return alone (a resend is the same)."""
    return (
        f"[loanhub] 退回补件 {row['application_no']}: documents needed",
        f"Application {row['application_no']} was returned for more documents "
        f"(LOS {row['los_reference']}, by {row['decided_by']}).\n"
        f"Reason: {row['comment'] or '-'}\n"
        "When the documents arrive, the next intake of this application re-opens it.",
    )


def notify_returns(
    engine: Engine, notifier: Notifier, guard: LedgerGuard, to: list[str] | None = None
) -> dict[str, int]:
    """Mail credit ops once per return the LOS took; one mail that fails never stops the
    others. Counts ``notified`` (sent now or before) and ``failed`` (the next run tries
    again: a transient failure; or a mail in doubt, for ``loanhub items check``)."""
    recipients = to or CREDIT_OPS
    counts = {"notified": 0, "failed": 0}
    for row in returned(engine):
        key = f"{row['application_no']}:{row['los_reference']}"
        subject, body = notice(row)
        try:
            with call_subject(row["application_no"]):
                guard.once(
                    RETURN_NOTICE,
                    key,
                    {"to": recipients},
                    lambda subject=subject, body=body, key=key: {
                        "id": notifier.send(
                            recipients,
                            subject,
                            body,
                            message_id=message_id_for(RETURN_NOTICE, key),
                        )
                    },
                )
        except (LegacyError, WorkItemError) as exc:
            counts["failed"] += 1
            log.warning("return notice %s not sent: %s", key, exc)
            continue
        counts["notified"] += 1
    return counts


def reopen(conn: Connection, application_no: str, *, actor: str) -> bool:
    """A RETURNED application submitted again (its documents arrived): RECEIVED once more, in
    its next decision round, audited with what it had been returned for. False when it was not
    RETURNED, or when the round's return is not in the LOS yet (the posting comes first: the
    applicant was never told). One statement: two intakes at once re-open it once."""
    posted = select(decision.c.id).where(
        decision.c.application_no == application_no,
        decision.c.round == application.c.round,
        decision.c.outcome == "RETURN",
        decision.c.los_reference.is_not(None),
    )
    done = conn.execute(
        update(application)
        .where(
            application.c.application_no == application_no,
            application.c.status == "RETURNED",
            posted.exists(),
        )
        .values(status="RECEIVED", round=application.c.round + 1)
        .returning(application.c.round)
    ).first()
    if done is None:
        return False
    why = conn.execute(
        select(decision.c.los_reference, decision.c.comment, decision.c.decided_by).where(
            decision.c.application_no == application_no, decision.c.round == done.round - 1
        )
    ).first()
    audit.append(
        conn,
        actor=actor,
        action="application.reopened",
        subject=application_no,
        before={
            "status": "RETURNED",
            "round": done.round - 1,
            **({} if why is None else {"returned": why.los_reference, "reason": why.comment}),
        },
        after={"status": "RECEIVED", "round": done.round},
    )
    return True
