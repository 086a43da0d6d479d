"""``loanhub calls``: the journal of every call to a legacy system (what the dashboard's source
health and /metrics read), and its retention, by hand or from cron: the ``calls`` kind of
``loanhub retention purge``, audited the same way, with a number of days of its own."""

from __future__ import annotations

from typing import Annotated

import typer

from loanhub.cli.common import UrlOption, console, engine, settings

app = typer.Typer(help="The journal of calls to the legacy systems.", no_args_is_help=True)


@app.command("purge")
def calls_purge(
    days: Annotated[
        int | None,
        typer.Option(min=0, max=36500, help="keep this many days (default: the retention setting)"),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Drop journaled calls older than the retention period (the dashboard's source health and
    /metrics read the rest); audited as a retention purge of the kind ``calls``."""
    from loanhub.flows.retention import purge

    hub = settings()
    keep = days if days is not None else hub.retention.call_days
    [done] = purge(
        engine(url, migrated=True),
        hub.retention_areas,
        hub.retention,
        actor=hub.actor,
        kinds=("calls",),
        days={"calls": keep},
    )
    console.print(f"purged {done.count} call(s) older than {keep} days")
