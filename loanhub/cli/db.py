"""``loanhub db``: the hub's store, created or migrated by hand (deployments run ``upgrade``
in their init step)."""

from __future__ import annotations

import typer

from loanhub.cli.common import UrlOption, console, engine
from loanhub.platform.db import current_revision, upgrade

app = typer.Typer(help="The hub's store.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(url: UrlOption = None) -> None:
    """Create or migrate the store to the newest schema."""
    store = engine(url)
    upgrade(store)
    console.print(f"store at revision [bold]{current_revision(store)}[/]")


@app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Print the store's schema revision."""
    console.print(current_revision(engine(url)) or "empty (run: loanhub db upgrade)")
