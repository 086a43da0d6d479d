"""``loanhub items``: the work items a person must look at, and what an operator does with
them, each with a note and audited (``loanhub.flows.operator_actions``).

An item that needs a person (someone else's decision in the LOS, a tranche whose amount
changed, a contract failure) waits in its queue with its reason and never blocks the others.
Once the cause is fixed, an operator releases it (the next run takes it again, once), or
closes it when a person settled it outside the hub (``reopen`` undoes that). An item in doubt
is never released blindly: ``items read`` asks its legacy system about it and shows what it
read, and ``items settle`` confirms the outcome that reading supports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from loanhub.cli.common import UrlOption, console, engine, fail, settings
from loanhub.cli.common import operator_action as _act
from loanhub.platform.masking import mask_text


def shown(key: str) -> str:
    """A key as printed: masked (a bureau inquiry's key holds the subject's ID number)."""
    return escape(mask_text(key))


if TYPE_CHECKING:
    from loanhub.flows.operator_actions import Reading
    from loanhub.platform.ledger import WorkItemLedger

app = typer.Typer(help="Work items waiting for a person.", no_args_is_help=True)

WAITING = ("NEEDS_HUMAN", "FAILED", "IN_DOUBT")
LISTED = (*WAITING, "CLOSED")
NoteOption = Annotated[str, typer.Option("--note", help="why (kept in the audit chain)")]


@app.command("list")
def items_list(
    state: Annotated[
        str | None,
        typer.Option(help="NEEDS_HUMAN, FAILED, IN_DOUBT or CLOSED (default: all but CLOSED)"),
    ] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. los_decision, payment")] = None,
    url: UrlOption = None,
) -> None:
    """The items that wait, with their reason (masked)."""
    from loanhub.platform.ledger import WorkItemLedger
    from schemas.hub import WorkItemState

    if state is not None and state not in LISTED:
        fail(f"unknown state {state!r}: one of {', '.join(LISTED)}", code=2)
    ledger = WorkItemLedger(engine(url, migrated=True))
    states = [WorkItemState(state)] if state else [WorkItemState(s) for s in WAITING]
    table = Table()
    for column in ("id", "kind", "key", "state", "since", "reason"):
        # the short columns never wrap (a kind cut in two is unreadable); key and reason do
        table.add_column(column, no_wrap=column in ("id", "kind", "state"))
    shown = 0
    for wanted in states:
        for item in ledger.items(wanted, kind):
            table.add_row(
                f"#{item.id}",
                item.kind,
                escape(mask_text(item.business_key)),
                item.state.value,
                f"{item.updated_at:%Y-%m-%d %H:%M}",
                escape(mask_text(item.error or "")[:120]),
            )
            shown += 1
    console.print(table)
    console.print(f"{shown} item(s); keys are masked: act on an item by its #id")


KeyArgument = Annotated[str, typer.Argument(help="the item's business key, or #<id> as listed")]


@app.command("release")
def items_release(kind: str, key: KeyArgument, note: NoteOption, url: UrlOption = None) -> None:
    """Release a NEEDS_HUMAN item, or a FAILED one the hub would not retry by itself, for one
    more attempt by the next run (audited)."""
    from loanhub.flows import operator_actions

    ledger = _ledger(url)
    released = _act(lambda: operator_actions.release(ledger, kind, key, note))
    console.print(
        f"{kind} {shown(key)}: released ({released.state.value}, attempt {released.attempts})"
    )


@app.command("close")
def items_close(kind: str, key: KeyArgument, note: NoteOption, url: UrlOption = None) -> None:
    """Close a NEEDS_HUMAN item a person settled outside the hub: CLOSED, never run again
    (audited; ``items reopen`` undoes it)."""
    from loanhub.flows import operator_actions

    ledger = _ledger(url)
    _act(lambda: operator_actions.close(ledger, kind, key, note))
    console.print(f"{kind} {shown(key)}: closed by {escape(ledger.actor)}")


@app.command("reopen")
def items_reopen(kind: str, key: KeyArgument, note: NoteOption, url: UrlOption = None) -> None:
    """Reopen a CLOSED item: NEEDS_HUMAN again, waiting for a person (audited)."""
    from loanhub.flows import operator_actions

    ledger = _ledger(url)
    _act(lambda: operator_actions.reopen(ledger, kind, key, note))
    console.print(f"{kind} {shown(key)}: reopened, NEEDS_HUMAN")


@app.command("read")
def items_read(kind: str, key: KeyArgument, url: UrlOption = None) -> None:
    """Ask the legacy system about one IN_DOUBT item (nothing is sent) and show what it read
    and the outcome it supports; exit 1 when the system cannot be read."""
    from loanhub.flows import operator_actions
    from loanhub.runtime.operator import legacy_readers

    ledger = _ledger(url)
    with legacy_readers(settings(), ledger.engine) as readers:
        reading = _act(lambda: operator_actions.read(ledger.engine, readers, ledger, kind, key))
    _show(reading)
    if reading.unavailable:
        fail("nothing can be settled now: read again once the system answers")
    if reading.supports is not None:
        console.print(
            f"settle with: loanhub items settle {kind} {escape(mask_text(key))} "
            f"--outcome {reading.supports.value} --note ..."
        )


@app.command("settle")
def items_settle(
    kind: str,
    key: KeyArgument,
    outcome: Annotated[
        str, typer.Option("--outcome", help="done, release or refer: what the reading supports")
    ],
    note: NoteOption,
    url: UrlOption = None,
) -> None:
    """Settle one IN_DOUBT item to the outcome its legacy system's reading supports: read
    again now, refused when it says otherwise or cannot be read (nothing changes then)."""
    from loanhub.flows import operator_actions
    from loanhub.runtime.operator import legacy_readers

    ledger = _ledger(url)
    with legacy_readers(settings(), ledger.engine) as readers:
        settled, reading = _act(
            lambda: operator_actions.settle(
                ledger.engine, readers, ledger, kind, key, outcome, note
            )
        )
    _show(reading)
    console.print(f"{kind} {shown(key)}: settled {outcome}, now {settled.state.value}")


def _ledger(url: str | None) -> WorkItemLedger:
    """The ledger with the settings' actor as the operator (imported late like every command)."""
    from loanhub.runtime.operator import operator_ledger

    hub = settings()
    return operator_ledger(hub, engine(url, migrated=True), hub.actor)


def _show(reading: Reading) -> None:
    from loanhub.flows.operator_actions import OUTCOME_WORDS

    console.print(
        f"{reading.kind} {escape(mask_text(reading.business_key))}: read {reading.system}"
    )
    for line in reading.lines:
        console.print(f"  {escape(line)}")
    supports = OUTCOME_WORDS[reading.supports] if reading.supports else "no outcome now"
    console.print(f"supports: {supports} ({escape(reading.why)})")


@app.command("check")
def items_check(url: UrlOption = None) -> None:
    """What each item in NEEDS_HUMAN or IN_DOUBT waits on (a person, the LOS's checker, a
    system's reader); exit 1 when one waits on nothing (its cause is already settled)."""
    from loanhub.flows.waiting import waiting_items

    found = waiting_items(engine(url, migrated=True))
    table = Table("kind", "key", "state", "waits on", "stuck")
    for w in found:
        table.add_row(w.kind, w.business_key, w.state, w.waits_on, w.stuck or "")
    console.print(table)
    stuck = [w for w in found if w.stuck]
    if stuck:
        fail(f"{len(stuck)} of {len(found)} item(s) wait on nothing: {stuck[0].stuck}")
    console.print(f"{len(found)} item(s) waiting, none on nothing")
