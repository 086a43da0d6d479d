"""Finding an application's case file: by what names it (for anyone) or by the applicant's
identity number (for operators only, and audited).

An application number, a loan account, an LOS approval reference or a payment's EndToEndId
name one application and carry no personal data: anyone signed in may look them up, and a
prefix of an application number lists the matches. A resident ID or USCC is personal (a
USCC names a company's owners' business): looking an application up by it is an operator's
act, written to the audit chain with the ID masked, whether or not anything was found.
"""

from __future__ import annotations

from sqlalchemy import Engine, or_, select

from connectors.payments import parse_end_to_end_id
from loanhub.platform import audit
from loanhub.platform.blacklist import party_id
from loanhub.platform.masking import mask_id
from schemas.identifiers import InvalidIdentifier
from schemas.tables import application, decision, disbursement, early_warning, loan

LIMIT = 50
SEARCHED = "case.searched_by_id"


def is_id_number(text: str) -> bool:
    """Whether ``text`` is a valid resident ID or USCC (checksums and all)."""
    try:
        party_id(text.strip())
    except InvalidIdentifier:
        return False
    return True


def by_reference(engine: Engine, text: str) -> list[str]:
    """The applications ``text`` names: an application number (exact, else those it begins),
    a loan account, an LOS reference or an EndToEndId; at most ``LIMIT``."""
    q = text.strip()
    if not q:
        return []
    with engine.connect() as conn:
        exact = conn.execute(
            select(application.c.application_no).where(application.c.application_no == q)
        ).scalar()
        if exact is not None:
            return [exact]
        account = (parse_end_to_end_id(q) or (q,))[0]
        named = set(
            conn.execute(select(loan.c.application_no).where(loan.c.loan_account == account))
            .scalars()
            .all()
        )
        named |= set(
            conn.execute(
                select(decision.c.application_no).where(decision.c.los_reference == q)
            ).scalars()
        )
        named |= set(
            conn.execute(
                select(loan.c.application_no)
                .join(disbursement, disbursement.c.loan_account == loan.c.loan_account)
                .where(disbursement.c.end_to_end_id == q)
            ).scalars()
        )
        if named:
            return sorted(named)
        return list(
            conn.execute(
                select(application.c.application_no)
                .where(application.c.application_no.like(_prefix(q)))
                .order_by(application.c.application_no)
                .limit(LIMIT)
            ).scalars()
        )


def _prefix(q: str) -> str:
    escaped = q.replace("\\", "").replace("%", "").replace("_", "")
    return f"{escaped}%"


def by_id_number(engine: Engine, id_number: str, *, actor: str, channel: str) -> list[str]:
    """The applications whose applicant or guarantor is ``id_number``, newest first; the
    search itself is audited (``case.searched_by_id``, the ID masked) in the transaction that
    reads. ``InvalidIdentifier`` for text that is no ID (nothing searched, nothing audited)."""
    wanted = party_id(id_number.strip())
    with engine.begin() as conn:
        found = list(
            conn.execute(
                select(application.c.application_no)
                .where(
                    or_(
                        application.c.party_id_number == wanted,
                        application.c.guarantor_id_number == wanted,
                    )
                )
                .order_by(application.c.submitted_at.desc(), application.c.application_no)
                .limit(LIMIT)
            ).scalars()
        )
        audit.append(
            conn,
            actor=actor,
            action=SEARCHED,
            subject=mask_id(wanted),
            after={"found": found, "channel": channel},
        )
    return found


def applications_of_loans(engine: Engine, accounts: set[str]) -> dict[str, str]:
    """Loan account -> application number, for the pages that show loans."""
    if not accounts:
        return {}
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(loan.c.loan_account, loan.c.application_no).where(
                    loan.c.loan_account.in_(accounts)
                )
            ).all()
        )


def application_of_item(engine: Engine, kind: str, business_key: str) -> str | None:
    """The application a work item is for, when its key names one (the application number,
    ``<number>:...``, ``<number>#round-n``, an EndToEndId of its loan, a warning of it)."""
    return applications_of_items(engine, [(kind, business_key)]).get((kind, business_key))


def applications_of_items(
    engine: Engine, items: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """``application_of_item`` for many items at once (one query for the loans)."""
    direct: dict[tuple[str, str], str] = {}
    by_loan: dict[tuple[str, str], str] = {}
    for kind, key in items:
        head = key.split("#", 1)[0].split(":", 1)[0]
        if kind in ("los_decision", "payee_account", "bureau_query", "return_notice"):
            direct[kind, key] = head
        elif kind in ("payment", "payment_conflict"):
            parsed = parse_end_to_end_id(key.split("@", 1)[0])
            if parsed is not None:
                by_loan[kind, key] = parsed[0]
        elif kind in ("warning_mail", "warning_escalation"):
            by_loan[kind, key] = key  # the warning's key: its loan below
    with engine.connect() as conn:
        warned = dict(
            conn.execute(
                select(early_warning.c.warning_key, early_warning.c.loan_account).where(
                    early_warning.c.warning_key.in_(
                        [k for (kind, k) in by_loan if kind.startswith("warning")]
                    )
                )
            ).all()
        )
        for item, value in list(by_loan.items()):
            if item[0].startswith("warning"):
                by_loan[item] = warned.get(value, "")
        known = set(
            conn.execute(
                select(application.c.application_no).where(
                    application.c.application_no.in_(set(direct.values()))
                )
            ).scalars()
        )
    lent = applications_of_loans(engine, set(by_loan.values()) - {""})
    found = {item: number for item, number in direct.items() if number in known}
    found |= {item: lent[account] for item, account in by_loan.items() if account in lent}
    return found
