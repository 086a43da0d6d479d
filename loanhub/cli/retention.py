"""``loanhub retention``: purge what the hub keeps only for a while (journaled calls, raw
payloads, kept files, bot evidence, personal data of long-closed applications), never what the
archive keeps; every purge of a kind is an audit event. The daily ``hub_housekeeping`` DAG runs
the same purge."""

from __future__ import annotations

from typing import Annotated

import typer

from loanhub.cli.common import UrlOption, console, engine, fail, settings

app = typer.Typer(help="Retention: purge what is kept past its time.", no_args_is_help=True)


@app.command("purge")
def retention_purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would go; change and audit nothing")
    ] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="only this kind (repeatable): calls, raw_payloads, kept_files, bot_evidence, "
            "personal_data",
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Purge each kind older than its retention (LOANHUB_RETENTION__*), the archive excepted;
    each kind's purge is one audit event (kind, how many, older than when)."""
    from loanhub.flows.retention import KINDS, purge

    chosen = tuple(kind) if kind else KINDS
    unknown = sorted(set(chosen) - set(KINDS))
    if unknown:
        fail(f"unknown kind {', '.join(unknown)} (known: {', '.join(KINDS)})", 2)
    hub = settings()
    try:
        done = purge(
            engine(url, migrated=True),
            hub.retention_areas,
            hub.retention,
            actor=hub.actor,
            dry_run=dry_run,
            kinds=chosen,
        )
    except OSError as exc:
        fail(f"purge stopped: {exc.strerror or exc}")
    for result in done:
        console.print(result.line())
    if dry_run:
        console.print("dry run: nothing was purged or audited")
