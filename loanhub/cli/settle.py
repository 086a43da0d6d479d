"""``loanhub settle``: settle, by hand, every work item whose outcome nobody knows, by reading
the legacy system's own state (never by sending again): payments by the gateway's inbox,
processed files and status reports; LOS postings by the application's status page; bureau
inquiries by ``RetrieveReport``; mails by their own rule. The same settling runs by itself at
the start of each DAG run that could need it."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer

from loanhub.cli.common import console, engine, fail, first_line

app = typer.Typer()


class Kind(StrEnum):
    ALL = "all"
    PAYMENTS = "payments"
    LOS = "los"
    BUREAU = "bureau"
    MAILS = "mails"


def resolvers() -> dict[Kind, Callable[[], dict[str, int]]]:
    from loanhub.runtime import tasks

    return {
        Kind.PAYMENTS: tasks.settle_doubts,
        Kind.LOS: tasks.settle_los_decisions,
        Kind.BUREAU: tasks.settle_bureau,
        Kind.MAILS: tasks.settle_mails,
    }


@app.command("settle")
def settle_command(
    kind: Annotated[Kind, typer.Argument(help="which kind of work item")] = Kind.ALL,
) -> None:
    """Settle the work items in doubt by reading the legacy systems, and print what became of
    them. Exits 1 when a legacy system could not be read (the items stay in doubt)."""
    engine(None, migrated=True)  # a store that does not answer is one line, not one per kind
    chosen = resolvers()
    unreadable = False
    for name, settle in chosen.items():
        if kind not in (Kind.ALL, name):
            continue
        try:
            counts = settle()
        except Exception as exc:  # a system that does not answer: one line, the others go on
            console.print(
                f"{name}: not settled: {type(exc).__name__}: {first_line(exc)}", soft_wrap=True
            )
            unreadable = True
            continue
        shown = ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing in doubt"
        console.print(f"{name}: {shown}")
    if unreadable:
        fail("some items stay in doubt: run again once the systems answer")
