"""``loanhub db``: the hub's store, created or migrated by hand (deployments run ``upgrade``
in their init step, as the owner role), and the runtime role's grants on PostgreSQL."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import Engine

from loanhub.cli.common import UrlOption, console, engine, fail, settings
from loanhub.platform.db import current_revision, upgrade
from loanhub.platform.db_roles import GrantRefused, grant_runtime

app = typer.Typer(help="The hub's store.", no_args_is_help=True)

OwnerUrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="store URL as the owner role (default: LOANHUB_DATABASE_OWNER_URL, else "
        "LOANHUB_DATABASE_URL, else embedded)",
    ),
]


@app.command("upgrade")
def db_upgrade(
    url: OwnerUrlOption = None,
    grant: Annotated[
        list[str] | None,
        typer.Option("--grant", help="then grant the runtime's rights to this role (PostgreSQL)"),
    ] = None,
) -> None:
    """Create or migrate the store to the newest schema, as the owner role; then key a chain
    from before the audit key (one checkpoint event) and anchor its head."""
    from loanhub.cli.audit import anchor_head, keyring
    from loanhub.platform.audit import checkpoint_legacy

    store = engine(url or settings().owner_store_url)
    upgrade(store)
    ring = keyring()
    checkpoint = checkpoint_legacy(store, ring)
    for role in grant or []:
        _grant(store, role)
    anchor_head(store, ring, only_if_moved=True)
    console.print(f"store at revision [bold]{current_revision(store)}[/]")
    if checkpoint is not None:
        console.print(f"audit events 1..{checkpoint.seq - 1} keyed by checkpoint {checkpoint.seq}")


def _grant(store: Engine, role: str) -> None:
    try:
        statements = grant_runtime(store, role)
    except GrantRefused as exc:
        fail(str(exc), 2)
    console.print(f"granted the runtime's rights to {role} ({len(statements)} statements)")


@app.command("grant")
def db_grant(
    role: Annotated[str, typer.Option("--role", help="the runtime role (LOANHUB_DATABASE_URL's)")],
    url: OwnerUrlOption = None,
) -> None:
    """Grant the runtime role what the hub needs and no more (PostgreSQL; run as the owner
    after every upgrade): reads and writes on the working tables, and on audit_event only
    INSERT and SELECT."""
    _grant(engine(url or settings().owner_store_url, migrated=True), role)


@app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Print the store's schema revision."""
    console.print(current_revision(engine(url)) or "empty (run: loanhub db upgrade)")
