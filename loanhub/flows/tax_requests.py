"""Tax requests: submitted under their own number, and asked again once when their answer can
no longer come.

The authority answers a file name once and deletes its answers after 7 days. A request handed
over more than 7 days ago whose answer is not in the outbox, and was never taken by the hub
(the wait timed out, the workers were down for a week), will never be answered: waiting on
it is waiting forever. It is asked again, once, under a new name of the day it was noticed;
a ``tax_request_again`` work item keyed by the lost request's name remembers the new name, so
every later look (the wait resumed, the task retried, another worker) waits on that one
instead of asking a third time. Should the new request be lost in its turn, it is asked again
in the same way: a chain of requests a week apart, never a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo

from connectors.tax import RequestNameTaken, TaxExchange, TaxQuery
from contracts.tax_files import answer_name
from kernel.failures import OutcomeUnknown, TransientError
from loanhub.flows.harvest import tax_request_seq
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import WorkItem, WorkItemState
from schemas.types import local_day, utcnow

log = logging.getLogger(__name__)
ANSWER_KEPT = timedelta(days=7)  # the authority deletes its answers after 7 days
TAX_REQUEST_AGAIN = "tax_request_again"
MAX_CHAIN = 50  # a request asked again 50 times is a year of lost answers: a person's turn


def submit_request(
    ledger: WorkItemLedger,
    tax: TaxExchange,
    queries: list[TaxQuery],
    day: date,
    batch: list[str],
    purpose: str,
) -> str:
    """Upload the batch's request under its own number for ``day`` (``tax_request_seq``),
    past any number the authority holds for another request; returns the file name. The same
    call again returns the same name, and re-sending under it is a retry (``submit``)."""
    seq = 0
    while True:
        seq = tax_request_seq(ledger, day, batch, purpose, start=seq + 1)
        try:
            return tax.submit(queries, day, seq)
        except RequestNameTaken as exc:
            log.warning("tax request number %d not ours: %s", seq, exc)


def answer_gone(
    tax: TaxExchange, receipts: FileReceiptBook, request: str, now: datetime | None = None
) -> bool:
    """Whether the answer to ``request`` can no longer come: handed over more than 7 days
    before ``now``, no answer with its ``.ok`` in the outbox, none of its deliveries taken.
    The age is the inbox's own clock (the request file's modification time): the answer is
    written after it and deleted 7 days after it was written."""
    if tax.answered(request) is not None:
        return False
    handed_over = tax.handed_over_at(request)
    if handed_over is None or (now or utcnow()) - handed_over <= ANSWER_KEPT:
        return False
    return not receipts.loaded(tax.system, answer_name(request))


def request_in_force(
    ledger: WorkItemLedger,
    tax: TaxExchange,
    receipts: FileReceiptBook,
    request: str,
    batch: list[str],
    purpose: str,
    queries: Callable[[], list[TaxQuery]],
    now: datetime | None = None,
    *,
    zone: tzinfo,
) -> str:
    """The request whose answer to wait for: ``request`` itself, or, once its answer can no
    longer come (``answer_gone``), the request that asks again in its place, submitted once.

    ``queries`` builds the batch's rows afresh (each with its consent: no consent, no second
    request). ``now`` is the clock (tests age the request instead of sleeping a week);
    ``zone`` the bank's, whose day names the request asked again."""
    current = request
    for _ in range(MAX_CHAIN):
        again = ledger.get(TAX_REQUEST_AGAIN, current)
        if again is not None and again.state is WorkItemState.DONE:
            current = str((again.result or {})["request"])
            continue
        if not answer_gone(tax, receipts, current, now):
            return current
        return _ask_again(ledger, tax, current, batch, purpose, queries, zone)
    raise TransientError(f"{request}: asked again {MAX_CHAIN} times, no answer kept", system="tax")


def _ask_again(
    ledger: WorkItemLedger,
    tax: TaxExchange,
    lost: str,
    batch: list[str],
    purpose: str,
    queries: Callable[[], list[TaxQuery]],
    zone: tzinfo,
) -> str:
    def submit(item: WorkItem) -> dict[str, str]:
        # the day is the item's (the bank's day it was noticed), not today's: a retry on a
        # later day sends the same name
        day = local_day(zone, item.created_at)
        try:
            name = submit_request(ledger, tax, queries(), day, batch, f"{purpose} again: {lost}")
        except OutcomeUnknown as exc:  # the same file under the same name is the same request
            raise TransientError(f"{exc}; sent again under its name", system="tax") from exc
        log.warning("tax request %s: its answer can no longer come, asked again as %s", lost, name)
        return {"request": name, "lost": lost}

    payload = {"applications": sorted(batch), "purpose": purpose}
    return LedgerGuard(ledger).once_with(TAX_REQUEST_AGAIN, lost, payload, submit)["request"]
