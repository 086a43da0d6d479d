"""``loanhub audit``: walk the store's hash-chained audit trail, as an auditor would."""

from __future__ import annotations

import typer

from loanhub.cli.common import UrlOption, console, engine, settings
from loanhub.platform import audit as chain
from loanhub.platform import audit_checks

app = typer.Typer(help="The audit chain.", no_args_is_help=True)


@app.command("verify")
def audit_verify(url: UrlOption = None) -> None:
    """Walk the audit chain; print the first broken link and exit 1 if there is one. The
    result is recorded (what /metrics reports, and the chain alert reads): run it from cron."""
    store = engine(url, migrated=True)
    report = chain.verify(store)
    _, head = chain.head(store)
    audit_checks.record(store, report, head, settings().actor)
    if not report.ok:
        console.print(
            f"[red]audit chain BROKEN at event {report.broken_seq}[/]: {report.reason} "
            f"({report.checked} events verified before it)"
        )
        raise typer.Exit(1)
    console.print(f"audit chain intact: {report.checked} events, head {head}")
