"""``loanhub calls``: the journal of every call to a legacy system (what the dashboard's source
health and /metrics read), and its retention, by hand or from cron."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from loanhub.cli.common import UrlOption, console, engine, settings

app = typer.Typer(help="The journal of calls to the legacy systems.", no_args_is_help=True)


@app.command("purge")
def calls_purge(
    days: Annotated[
        int | None,
        typer.Option(min=0, help="keep this many days (default: the retention setting)"),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Drop journaled calls older than the retention period (the dashboard's source health and
    /metrics read the rest)."""
    from loanhub.platform.calls import CallJournal

    keep = days if days is not None else settings().retention.call_days
    gone = CallJournal(engine(url, migrated=True)).purge(timedelta(days=keep))
    console.print(f"purged {gone} call(s) older than {keep} days")
