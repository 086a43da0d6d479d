"""``loanhub items``: the work items a person must look at, and their release.

An item that needs a person (someone else's decision in the LOS, a tranche whose amount
changed, a contract failure) waits in its queue with its reason and never blocks the others.
Once the cause is fixed, an operator releases it with a note (audited), and the next run takes
it again, once. Items in doubt are not released: ``loanhub settle`` reads the legacy system.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from loanhub.cli.common import UrlOption, console, engine, fail, settings

app = typer.Typer(help="Work items waiting for a person.", no_args_is_help=True)

WAITING = ("NEEDS_HUMAN", "FAILED", "IN_DOUBT")


@app.command("list")
def items_list(
    state: Annotated[
        str | None, typer.Option(help="NEEDS_HUMAN, FAILED or IN_DOUBT (default: all three)")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. los_decision, payment")] = None,
    url: UrlOption = None,
) -> None:
    """The items that wait, with their reason (masked)."""
    from loanhub.platform.ledger import WorkItemLedger
    from schemas.hub import WorkItemState

    if state is not None and state not in WAITING:
        fail(f"unknown state {state!r}: one of {', '.join(WAITING)}", code=2)
    ledger = WorkItemLedger(engine(url, migrated=True))
    states = [WorkItemState(state)] if state else [WorkItemState(s) for s in WAITING]
    table = Table("kind", "key", "state", "since", "reason")
    shown = 0
    for wanted in states:
        for item in ledger.items(wanted, kind):
            table.add_row(
                item.kind,
                item.business_key,
                item.state.value,
                f"{item.updated_at:%Y-%m-%d %H:%M}",
                (item.error or "")[:120],
            )
            shown += 1
    console.print(table)
    console.print(f"{shown} item(s)")


@app.command("release")
def items_release(
    kind: str,
    key: str,
    note: Annotated[str, typer.Option("--note", help="what was fixed (kept in the audit chain)")],
    url: UrlOption = None,
) -> None:
    """Release a FAILED or NEEDS_HUMAN item for one more attempt by the next run (audited)."""
    from loanhub.platform.ledger import IllegalTransition, WorkItemLedger

    if not note.strip():
        fail("a release needs a note saying what was fixed", code=2)
    ledger = WorkItemLedger(engine(url, migrated=True), actor=settings().actor)
    item = ledger.get(kind, key)
    if item is None:
        fail(f"no work item {kind} {key}")
    try:
        released = ledger.release(item, note)
    except IllegalTransition as exc:
        fail(str(exc))
    console.print(f"{kind} {key}: released ({released.state.value}, attempt {released.attempts})")


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
