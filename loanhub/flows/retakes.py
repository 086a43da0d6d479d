"""Which received files an operator may let through once more, and the retake itself.

A file the hub took is never taken again by itself: the same name and content is a duplicate
(``loanhub.platform.receipts``). When the source re-delivers a file after a fix (the hub's
check or mapping was wrong, the sender re-sent what it had), an operator retakes it, with a
note: its receipt goes back to RECEIVED and the next run that looks for the file takes it,
once, and marks it anew. A retake never posts anything twice, because what each source's
load writes is keyed:

- the core's nightly extract (LNREPAY): installments merged by loan and installment number
  (a record that is the same changes nothing), quarantined records not quarantined twice; the
  repayment run of the file's business date takes it;
- the tax authority's answer: one tax profile per request id (stored once), quarantined
  records not quarantined twice; the next wait for its request takes it.

Refused: a status report of the payment gateway (pain.002), read again by every payment run
while its tranche is in flight and never allowed to reopen a settled payment (a report that
disagrees with a settled tranche is what the reconciliation fails on, for a person); a file
not taken yet (RECEIVED: the next run takes it anyway); and a delivery superseded by a later
one of the same name (taking the older content again would undo the newer).
"""

from __future__ import annotations

from sqlalchemy import Connection

from loanhub.flows.operator_actions import ActionRefused, BadInput, checked_note
from loanhub.platform import audit
from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import FileReceipt, FileState

RETAKEN_BY = {
    "core": "the repayment run of the extract's business date (repayment_sync)",
    "tax": "the next wait for the answer's request (credit_harvest or post_loan_monitoring)",
}
"""The sources whose files may be retaken, and which run takes them then."""

NOT_RETAKEN = {
    "gateway": (
        "a payment status report (pain.002) is read again by every payment run while its "
        "tranche is in flight, and never reopens a settled payment (reconciliation flags a "
        "report that disagrees)"
    ),
}

TAKEN = (FileState.LOADED, FileState.PARTIAL, FileState.REJECTED)


def why_not(book: FileReceiptBook, receipt: FileReceipt, newest: int | None = None) -> str | None:
    """Why ``receipt`` may not be retaken now; None when it may. ``newest``: the id of the
    newest delivery of its name, when the caller knows it (a page of many files)."""
    system = receipt.source_system
    if system in NOT_RETAKEN:
        return NOT_RETAKEN[system]
    if system not in RETAKEN_BY:
        return f"files of {system} are not retaken"
    if receipt.state not in TAKEN:
        return f"{receipt.name} is {receipt.state.value}: not taken yet, the next run takes it"
    if newest is not None:
        if newest != receipt.id:
            return (
                f"a later delivery of {receipt.name} came after it: only the newest is taken again"
            )
        return None
    later = book.later_delivery(receipt)
    if later is not None:
        return (
            f"a later delivery of {receipt.name} (sha256 {later.sha256[:12]}) came after it: "
            "only the newest is taken again"
        )
    return None


def reasons(book: FileReceiptBook, receipts: list[FileReceipt]) -> dict[int, str | None]:
    """``why_not`` for each of many receipts (None: it may be retaken), in two queries."""
    newest = book.newest_of({(r.source_system, r.name) for r in receipts})
    return {
        r.id: why_not(book, r, newest.get((r.source_system, r.name), r.id))
        for r in receipts
        if r.id is not None
    }


def retake(book: FileReceiptBook, receipt_id: int, *, actor: str, note: str) -> FileReceipt:
    """Let one received file through once more (audited ``file.retake`` with the note, in the
    transaction of the receipt's change); ``ActionRefused`` with the reason otherwise."""
    note = checked_note(note, "a retake")
    receipt = book.get(receipt_id)
    if receipt is None:
        raise BadInput(f"no file receipt {receipt_id}")
    reason = why_not(book, receipt)
    if reason is not None:
        raise ActionRefused(f"{receipt.name}: {reason}")

    def record(conn: Connection) -> None:
        audit.append(
            conn,
            actor=actor,
            action="file.retake",
            subject=f"{receipt.source_system}:{receipt.name}",
            before={
                "state": receipt.state.value,
                "sha256": receipt.sha256,
                "detail": receipt.detail,
                "records_loaded": receipt.records_loaded,
                "records_quarantined": receipt.records_quarantined,
            },
            after={"state": FileState.RECEIVED.value, "note": note},
        )

    try:
        return book.retake(receipt, actor=actor, note=note, also=record)
    except ValueError as exc:
        raise ActionRefused(str(exc)) from exc
