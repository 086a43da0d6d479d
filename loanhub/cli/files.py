"""``loanhub files``: the files the hub received from legacy systems, and letting a
re-delivered one through once more (``loanhub.flows.retakes``: which may, and why not)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from loanhub.cli.common import UrlOption, console, engine, fail, operator_action, settings

app = typer.Typer(
    help="Files received from legacy systems; retaking a re-delivered one.", no_args_is_help=True
)


@app.command("list")
def files_list(
    system: Annotated[str | None, typer.Option(help="e.g. core, tax, gateway")] = None,
    url: UrlOption = None,
) -> None:
    """The files received, newest first, with their state and record counts (masked)."""
    from sqlalchemy import select

    from schemas.tables import file_receipt

    query = select(file_receipt).order_by(
        file_receipt.c.received_at.desc(), file_receipt.c.id.desc()
    )
    if system is not None:
        query = query.where(file_receipt.c.source_system == system)
    table = Table("id", "system", "file", "sha256", "state", "loaded", "quarantined", "detail")
    with engine(url, migrated=True).connect() as conn:
        rows = conn.execute(query.limit(200)).mappings().all()
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["source_system"],
            escape(row["name"]),
            row["sha256"][:12],
            row["state"],
            "—" if row["records_loaded"] is None else str(row["records_loaded"]),
            "—" if row["records_quarantined"] is None else str(row["records_quarantined"]),
            escape((row["detail"] or "")[:80]),
        )
    console.print(table)
    console.print(f"{len(rows)} file(s)")


@app.command("retake")
def files_retake(
    system: Annotated[str, typer.Argument(help="the source system: core or tax")],
    name: Annotated[str, typer.Argument(help="the file's name, e.g. LNREPAY.D261120")],
    note: Annotated[str, typer.Option("--note", help="what was fixed (kept in the audit chain)")],
    url: UrlOption = None,
) -> None:
    """Let the newest delivery of a taken file through once more: the next run that looks
    for it takes it, once (audited). Refused (exit 1) for a payment status report, a file not
    taken yet, or a delivery a later one superseded."""
    from loanhub.flows import retakes
    from loanhub.platform.receipts import FileReceiptBook

    book = FileReceiptBook(engine(url, migrated=True))
    newest = book.newest(system, name)
    if newest is None or newest.id is None:
        fail(f"no file {name} received from {system}", code=2)
    receipt = newest.id
    done = operator_action(lambda: retakes.retake(book, receipt, actor=settings().actor, note=note))
    taker = retakes.RETAKEN_BY.get(system, "the next run")
    console.print(
        f"{system} {escape(name)} (sha256 {done.sha256[:12]}): {done.state.value} again, "
        f"taken once more by {taker}"
    )
