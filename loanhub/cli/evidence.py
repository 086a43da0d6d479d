"""``loanhub evidence``: the screenshots and traces the screen bots keep when they stop, and
their retention (they may show personal data, so they do not stay forever)."""

from __future__ import annotations

from typing import Annotated

import typer

from loanhub.cli.common import console, engine, settings

app = typer.Typer(help="What the bots filed when they stopped.", no_args_is_help=True)


@app.command("list")
def evidence_list() -> None:
    """Every capture the bots kept: when, for which work-item kind, and why it stopped."""
    root = settings().screen_evidence_dir
    captures = sorted(root.glob("*/*/*/reason.txt")) if root.exists() else []
    for reason in captures:
        lines = dict(
            line.split(": ", 1) for line in reason.read_text().splitlines() if ": " in line
        )
        console.print(f"{reason.parent}  {lines.get('key', '?')}  {lines.get('reason', '')}")
    console.print(f"{len(captures)} capture(s) under {root}")


@app.command("purge")
def evidence_purge(
    days: Annotated[
        int | None,
        typer.Option(min=0, max=36500, help="keep this many days (default: the retention setting)"),
    ] = None,
) -> None:
    """Drop screen evidence older than the retention period (screenshots and traces); audited
    as a retention purge of the kind ``bot_evidence`` (the store is opened, and migrated, for
    its audit event)."""
    from loanhub.flows.retention import purge
    from loanhub.platform.db import ensure_current

    hub = settings()
    keep = days if days is not None else hub.retention.evidence_days
    store = engine(None)
    ensure_current(store)  # migrated only by a role that owns the schema
    [done] = purge(
        store,
        hub.retention_areas,
        hub.retention,
        actor=hub.actor,
        kinds=("bot_evidence",),
        days={"bot_evidence": keep},
    )
    console.print(f"purged {done.count} capture(s) older than {keep} days")
