"""``loanhub blacklist``: the bank's own list of parties it will not lend to. Every change is
audited; a lifted entry is kept, stamped, never deleted."""

from __future__ import annotations

from typing import Annotated

import typer

from loanhub.cli.common import UrlOption, checked_person, console, engine
from loanhub.platform import blacklist
from loanhub.platform.masking import mask_text
from schemas.identifiers import InvalidIdentifier

app = typer.Typer(
    help="The bank's own blacklist: listed parties are rejected by the rules.",
    no_args_is_help=True,
)


def _party(id_number: str) -> str:
    """The normalised identifier, or a usage error naming why it is neither ID nor USCC."""
    try:
        return blacklist.party_id(id_number)
    except InvalidIdentifier as exc:
        raise typer.BadParameter(str(exc), param_hint="ID_NUMBER") from exc


@app.command("add")
def blacklist_add(
    id_number: str,
    reason: Annotated[str, typer.Option(help="why the bank will not lend (kept, audited)")],
    by: Annotated[
        str, typer.Option(help="who lists it (A-Za-z0-9._@-, 64 at most)", callback=checked_person)
    ],
    url: UrlOption = None,
) -> None:
    """List a person (resident ID) or an enterprise (USCC)."""
    _party(id_number)
    added = blacklist.add(engine(url, migrated=True), id_number, reason, by)
    console.print(f"{mask_text(id_number)}: {'listed' if added else 'already listed'}")


@app.command("lift")
def blacklist_lift(
    id_number: str,
    by: Annotated[
        str, typer.Option(help="who lifts it (A-Za-z0-9._@-, 64 at most)", callback=checked_person)
    ],
    url: UrlOption = None,
) -> None:
    """Take a party off the list (the entry is kept, stamped as lifted)."""
    _party(id_number)
    lifted = blacklist.lift(engine(url, migrated=True), id_number, by)
    console.print(f"{mask_text(id_number)}: {'lifted' if lifted else 'was not listed'}")
    if not lifted:
        raise typer.Exit(1)


@app.command("list")
def blacklist_list(
    all_entries: Annotated[bool, typer.Option("--all", help="lifted entries too")] = False,
    url: UrlOption = None,
) -> None:
    """The entries, identifiers masked."""
    found = blacklist.entries(engine(url, migrated=True), include_lifted=all_entries)
    for e in found:
        lifted = f"  lifted {e.lifted_at:%Y-%m-%d} by {e.lifted_by}" if e.lifted_at else ""
        console.print(
            f"{mask_text(e.id_number)}  {e.listed_at:%Y-%m-%d} by {e.listed_by}: {e.reason}{lifted}"
        )
    console.print(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}")
