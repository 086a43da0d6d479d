"""What an operator may do with a stuck work item, and what the hub reads before it lets them.

Four actions, each with a note, each audited (``operator.<action>``) in the transaction of the
change it goes with, each the same from the dashboard and the CLI:

- **settle** an IN_DOUBT item after the hub has read the legacy system about *this* item
  (``read``): the payment gateway's inbox, processed files and status reports for a payment;
  the application's status page in the LOS for a decision posting; ``RetrieveReport`` for a
  bureau inquiry; the store and the mail rule for a mail (an SMTP server cannot be asked).
  The operator confirms the outcome the reading supports, and only that one: the reading is
  taken again at the confirmation, and the outcome is refused when the system says otherwise
  by then, or cannot be read (nothing changes). Nothing is ever sent to settle: a payment
  that arrived is DONE; one that did not is released, and the next run sends it once.
- **release** a FAILED item the hub would not retry by itself (a business or contract
  failure whose cause was fixed): the next run takes it once more.
- **close** a NEEDS_HUMAN item a person settled outside the hub: CLOSED, terminal (a claim
  hands it back and runs nothing), with the note; **reopen** a CLOSED one back to NEEDS_HUMAN.

A refusal is ``ActionRefused`` (the item is not in a state for it, the system says otherwise)
or ``BadInput`` (no note, an unknown outcome or item), with a one-line reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine

from bots.los.bot import LosBot
from connectors.bureau import BureauConnector
from connectors.payments import PaymentGatewayConnector
from connectors.smtp import message_id_for
from kernel.failures import FailureKind, LegacyError
from loanhub.flows import decide, disburse, harvest, returns, warnings
from loanhub.platform import audit
from loanhub.platform.ledger import IllegalTransition, WorkItemLedger
from loanhub.platform.masking import mask_text
from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import WorkItem, WorkItemState
from schemas.types import utcnow

log = logging.getLogger(__name__)


class ActionRefused(ValueError):
    """An operator action the hub will not take now, with the one-line reason (masked: it
    quotes keys that hold ID numbers); nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(mask_text(message))


class BadInput(ActionRefused):
    """The request itself is wrong: no note, an unknown outcome, kind or item."""


def checked_note(note: str | None, what: str) -> str:
    """The note every operator action needs: what was done or fixed, for the audit chain."""
    text = (note or "").strip()
    if not text:
        raise BadInput(f"{what} needs a note saying why (kept in the audit chain)")
    return text[:1000]


class Outcome(StrEnum):
    """What an operator may settle an IN_DOUBT item to."""

    DONE = "done"  # it happened: DONE with what was read
    RELEASE = "release"  # it did not: FAILED(transient), the next run sends it once
    REFER = "refer"  # something else is there: a person's case (NEEDS_HUMAN)


OUTCOME_WORDS = {
    Outcome.DONE: "it happened: done, with what was read",
    Outcome.RELEASE: "it did not happen: released, the next run sends it once",
    Outcome.REFER: "another decision is there: handed to a person (NEEDS_HUMAN)",
}

MAILS = (warnings.MAIL, warnings.ESCALATION, returns.RETURN_NOTICE)

READ_FROM = {
    disburse.KIND: "the payment gateway: its inbox, processed files and status reports",
    decide.KIND: "the LOS: the application's status page (审批状态)",
    harvest.BUREAU_QUERY: "the credit bureau: RetrieveReport under the inquiry's reference",
    **{kind: "the store and the mail rule (an SMTP server cannot be asked)" for kind in MAILS},
}
"""The kinds a reading can settle, and what is read for each."""

OUTCOMES = {
    disburse.KIND: (Outcome.DONE, Outcome.RELEASE),
    decide.KIND: (Outcome.DONE, Outcome.RELEASE, Outcome.REFER),
    harvest.BUREAU_QUERY: (Outcome.DONE, Outcome.RELEASE),
    **{kind: (Outcome.DONE, Outcome.RELEASE) for kind in MAILS},
}
"""What each kind may be settled to (the reading decides which one of them, now)."""


@dataclass(frozen=True)
class Readers:
    """How to reach each legacy system that settles an item, built by the runtime on first
    use (a reading of the LOS starts a browser; one of a mail reaches nothing)."""

    gateway: Callable[[], PaymentGatewayConnector]
    los: Callable[[], LosBot]
    bureau: Callable[[], BureauConnector]


@dataclass(frozen=True)
class Reading:
    """What the hub read about one IN_DOUBT item, masked: ``supports`` is the one outcome the
    reading allows (None: none now, ``why`` says so); ``unavailable`` when the system could
    not be read at all."""

    kind: str
    business_key: str
    system: str
    lines: tuple[str, ...]
    supports: Outcome | None
    why: str
    read_at: Any = field(default_factory=utcnow)
    unavailable: bool = False
    detail: Any = field(default=None, repr=False, compare=False)  # what the settling applies

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        return OUTCOMES.get(self.kind, ())


def item_of(ledger: WorkItemLedger, kind: str, key: str) -> WorkItem:
    """The item of ``kind`` under ``key``, or ``#<id>`` as listed (a key may quote an ID
    number, which every list shows masked)."""
    item = ledger.get(kind, key)
    number = key[1:]
    # ASCII digits only ("#²" is a digit to isdigit, not to int; "#１２" would be 12) and within
    # a row id's range (a 20-digit id overflowed the driver)
    if item is None and key.startswith("#") and number.isascii() and number.isdigit():
        item = ledger.get_by_id(int(number)) if int(number) < 2**63 else None
        if item is not None and item.kind != kind:
            item = None
    if item is None:
        raise BadInput(f"no work item {kind} {mask_text(key)}")
    return item


def read(engine: Engine, readers: Readers, ledger: WorkItemLedger, kind: str, key: str) -> Reading:
    """Ask the legacy system about this one IN_DOUBT item (never sending anything)."""
    item = item_of(ledger, kind, key)
    key = item.business_key
    if kind not in READ_FROM:
        raise ActionRefused(
            f"{kind} {key}: no reader settles a {kind} item: its own run does (loanhub settle)"
        )
    if item.state is not WorkItemState.IN_DOUBT:
        raise ActionRefused(f"{kind} {key} is {item.state}: only an IN_DOUBT item is settled")
    system = READ_FROM[kind]
    try:
        found = _read(engine, readers, item)
    except Exception as exc:  # the system cannot be read now (down, strange, no browser)
        if not isinstance(exc, (LegacyError, OSError, ValueError)):
            log.exception("%s %s: reading failed", kind, mask_text(key))
        return Reading(
            kind,
            key,
            system,
            (mask_text(f"{type(exc).__name__}: {exc}")[:500],),
            None,
            f"{system.split(':')[0]} could not be read: nothing can be settled now",
            unavailable=True,
        )
    return found


def _read(engine: Engine, readers: Readers, item: WorkItem) -> Reading:
    kind, key, system = item.kind, item.business_key, READ_FROM[item.kind]
    if kind == disburse.KIND:
        live, lines = disburse.read_files(engine, readers.gateway(), FileReceiptBook(engine), key)
        if live is not None:
            why = f"the gateway has the tranche's file {live}: it arrived"
            return Reading(kind, key, system, _masked(lines), Outcome.DONE, why, detail=live)
        why = "no file of the tranche is at the gateway: nothing was sent"
        return Reading(kind, key, system, _masked(lines), Outcome.RELEASE, why)
    if kind == decide.KIND:
        posting = decide.read_posting(readers.los(), item)
        supports = {
            "ours": Outcome.DONE,
            "nothing": Outcome.RELEASE,
            "other": Outcome.REFER,
        }.get(posting.found)
        why = {
            "ours": "the LOS shows the hub's decision: it was posted",
            "nothing": "the LOS shows nothing of this round after the quiet period: not posted",
            "other": "the LOS shows another decision of this round: a person's case",
            "too_soon": "nothing yet, but a late commit is still possible: read again later",
        }[posting.found]
        return Reading(
            kind, key, system, _masked([posting.evidence]), supports, why, detail=posting
        )
    if kind == harvest.BUREAU_QUERY:
        inquiry = harvest.read_inquiry(readers.bureau(), item)
        supports = {"done": Outcome.DONE, "not_received": Outcome.RELEASE}.get(inquiry.found)
        why = {
            "done": "the bureau has the inquiry on file: its answer was retrieved",
            "not_received": "the bureau never received it (or a new inquiry is due anyway)",
            "left": "the bureau can no longer tell: wait until a new inquiry is due",
        }[inquiry.found]
        return Reading(
            kind, key, system, _masked([inquiry.evidence]), supports, why, detail=inquiry
        )
    if kind == returns.RETURN_NOTICE:
        mid = message_id_for(kind, key)
        line = (
            "an SMTP server cannot be asked what it accepted: released, the next run mails it "
            f"again under the same Message-ID {mid}, receivers drop a duplicate by it"
        )
        why = "the mail rule: sent again under its Message-ID"
        return Reading(kind, key, system, (line,), Outcome.RELEASE, why)
    mail = warnings.read_mail(engine, kind, key)
    if mail.found == "already":
        why = "the warning is recorded as mailed: it went"
        return Reading(kind, key, system, _masked([mail.evidence]), Outcome.DONE, why, detail=mail)
    why = (
        "the warning is gone: nothing to send"
        if mail.found == "gone"
        else "the mail rule: sent again under its Message-ID by the next run"
    )
    return Reading(kind, key, system, _masked([mail.evidence]), Outcome.RELEASE, why, detail=mail)


def _masked(lines: list[str]) -> tuple[str, ...]:
    return tuple(mask_text(line)[:500] for line in lines)


def settle(
    engine: Engine,
    readers: Readers,
    ledger: WorkItemLedger,
    kind: str,
    key: str,
    outcome: str,
    note: str,
) -> tuple[WorkItem, Reading]:
    """Settle an IN_DOUBT item to ``outcome``, after reading the system again now: refused
    unless that reading supports exactly this outcome. ``ledger.actor`` is the operator."""
    note = checked_note(note, "settling")
    try:
        chosen = Outcome(outcome)
    except ValueError:
        names = ", ".join(o.value for o in Outcome)
        raise BadInput(f"unknown outcome {outcome!r}: one of {names}") from None
    allowed = OUTCOMES.get(kind)
    if allowed is not None and chosen not in allowed:
        names = ", ".join(o.value for o in allowed)
        raise BadInput(f"a {kind} item is settled to {names}, not {chosen.value}")
    seen = read(engine, readers, ledger, kind, key)
    key = seen.business_key
    if seen.unavailable:
        raise ActionRefused(f"{kind} {key}: {seen.why} ({seen.lines[0]})")
    if seen.supports is not chosen:
        says = seen.supports.value if seen.supports else "no outcome now"
        raise ActionRefused(
            f"{kind} {key}: the reading supports {says}, not {chosen.value}: {seen.why}"
        )
    item = item_of(ledger, kind, key)

    def record(conn: Connection) -> None:
        audit.append(
            conn,
            actor=ledger.actor,
            action="operator.settled",
            subject=f"{kind}:{key}",
            before={"state": WorkItemState.IN_DOUBT.value},
            after={"outcome": chosen.value, "note": note, "read": list(seen.lines)},
        )

    evidence = f"settled by {ledger.actor} after reading {seen.system.split(':')[0]}: " + (
        "; ".join(seen.lines)
    )
    try:
        return _apply(engine, readers, ledger, item, seen, chosen, evidence, record), seen
    except IllegalTransition as exc:  # settled by a run (or another operator) meanwhile
        raise ActionRefused(str(exc)) from exc
    except LegacyError as exc:
        raise ActionRefused(f"{kind} {key}: {exc}; nothing settled") from exc


def _apply(
    engine: Engine,
    readers: Readers,
    ledger: WorkItemLedger,
    item: WorkItem,
    seen: Reading,
    chosen: Outcome,
    evidence: str,
    record: Callable[[Connection], None],
) -> WorkItem:
    if item.kind == disburse.KIND:
        # the automatic settling's own step: a whole file without its .ok is completed, a
        # partial upload withdrawn, so what was read can no longer change under the outcome
        live, read_now = disburse.settle_files(
            engine, readers.gateway(), FileReceiptBook(engine), item.business_key
        )
        if (live is not None) != (chosen is Outcome.DONE):
            raise ActionRefused(
                f"{item.kind} {item.business_key}: the gateway changed while settling "
                f"({mask_text(read_now)}): read it again"
            )
        if live is None:
            return ledger.resolve_in_doubt(item, happened=False, evidence=evidence, also=record)
        done = ledger.resolve_in_doubt(
            item, happened=True, result={"msg_id": live}, evidence=evidence, also=record
        )
        disburse.mark_sent(engine, item.business_key, live)
        return done
    if item.kind == decide.KIND and chosen is Outcome.DONE:
        return decide.posting_done(engine, ledger, item, seen.detail, also=record)
    if chosen is Outcome.REFER:
        return ledger.refer_in_doubt(item, seen.detail.evidence, also=record)
    if chosen is Outcome.DONE and item.kind == harvest.BUREAU_QUERY:
        report = seen.detail.report
        return ledger.resolve_in_doubt(
            item, happened=True, result=report.summary(), evidence=evidence, also=record
        )
    if chosen is Outcome.DONE:  # a mail recorded as mailed
        result = {"id": seen.detail.message_id}
        return ledger.resolve_in_doubt(
            item, happened=True, result=result, evidence=evidence, also=record
        )
    return ledger.resolve_in_doubt(item, happened=False, evidence=evidence, also=record)


# -- release, close, reopen -------------------------------------------------------------------


def release(ledger: WorkItemLedger, kind: str, key: str, note: str) -> WorkItem:
    """One more attempt for a FAILED item the hub would not retry by itself (a business or
    contract failure), or a NEEDS_HUMAN one whose cause a person fixed: the next run takes it
    once. Refused for an item in doubt (settled by reading), a transient failure (the next
    run retries it anyway) and anything else."""
    note = checked_note(note, "a release")
    item = item_of(ledger, kind, key)
    if item.state is WorkItemState.FAILED and item.failure_kind is FailureKind.TRANSIENT:
        raise ActionRefused(f"{kind} {key} failed transient: the next run takes it again by itself")
    return _audited(ledger, item, "released", note, ledger.release)


def close(ledger: WorkItemLedger, kind: str, key: str, note: str) -> WorkItem:
    """A NEEDS_HUMAN item a person settled outside the hub: CLOSED with the note."""
    note = checked_note(note, "closing")
    return _audited(ledger, item_of(ledger, kind, key), "closed", note, ledger.close)


def reopen(ledger: WorkItemLedger, kind: str, key: str, note: str) -> WorkItem:
    """A CLOSED item back to NEEDS_HUMAN, waiting for a person again."""
    note = checked_note(note, "reopening")
    return _audited(ledger, item_of(ledger, kind, key), "reopened", note, ledger.reopen)


def _audited(
    ledger: WorkItemLedger,
    item: WorkItem,
    action: str,
    note: str,
    change: Callable[..., WorkItem],
) -> WorkItem:
    def record(conn: Connection) -> None:
        audit.append(
            conn,
            actor=ledger.actor,
            action=f"operator.{action}",
            subject=f"{item.kind}:{item.business_key}",
            before={"state": item.state.value, "reason": item.error},
            after={"note": note},
        )

    try:
        return change(item, note, also=record)
    except IllegalTransition as exc:
        raise ActionRefused(str(exc)) from exc


def actions_for(item: WorkItem) -> tuple[str, ...]:
    """What an operator may do with ``item`` as it is now (the page shows these forms)."""
    if item.state is WorkItemState.IN_DOUBT:
        return ("read",) if item.kind in READ_FROM else ()
    if item.state is WorkItemState.NEEDS_HUMAN:
        return ("release", "close")
    if item.state is WorkItemState.FAILED and item.failure_kind is not FailureKind.TRANSIENT:
        return ("release",)
    if item.state is WorkItemState.CLOSED:
        return ("reopen",)
    return ()
