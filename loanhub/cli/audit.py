"""``loanhub audit``: walk the store's hash-chained audit trail, as an auditor would."""

from __future__ import annotations

import typer

from loanhub.cli.common import UrlOption, console, engine
from loanhub.platform import audit as chain

app = typer.Typer(help="The audit chain.", no_args_is_help=True)


@app.command("verify")
def audit_verify(url: UrlOption = None) -> None:
    """Walk the audit chain; print the first broken link and exit 1 if there is one."""
    store = engine(url, migrated=True)
    report = chain.verify(store)
    if not report.ok:
        console.print(
            f"[red]audit chain BROKEN at event {report.broken_seq}[/]: {report.reason} "
            f"({report.checked} events verified before it)"
        )
        raise typer.Exit(1)
    _, head = chain.head(store)
    console.print(f"audit chain intact: {report.checked} events, head {head}")
