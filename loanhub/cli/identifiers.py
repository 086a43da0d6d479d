"""``loanhub id``: is this resident ID, credit code or card number well formed? What an
engineer asks before blaming a legacy system for refusing one."""

from __future__ import annotations

import typer

from loanhub.cli.common import console
from loanhub.platform.masking import mask_id
from schemas.identifiers import (
    InvalidIdentifier,
    luhn_ok,
    resident_id_birth_date,
    validate_resident_id,
    validate_uscc,
)

app = typer.Typer(help="Identifiers.", no_args_is_help=True)


@app.command("check")
def id_check(value: str) -> None:
    """Validate a resident ID, a unified social credit code or a card number."""
    v = value.strip()
    if len(v) == 18 and v[:17].isdigit():
        try:
            rid = validate_resident_id(v)
        except InvalidIdentifier as exc:
            console.print(f"[red]invalid resident ID[/] {mask_id(v)}: {exc}")
            raise typer.Exit(1) from exc
        console.print(
            f"valid resident ID {mask_id(rid)}: region {rid[:6]}, "
            f"born {resident_id_birth_date(rid).isoformat()}"
        )
        return
    if len(v) == 18:
        try:
            code = validate_uscc(v)
        except InvalidIdentifier as exc:
            console.print(f"[red]invalid USCC[/] {mask_id(v)}: {exc}")  # it may be a mistyped ID
            raise typer.Exit(1) from exc
        console.print(f"valid USCC {code}: registry {code[0]}, region {code[2:8]}")
        return
    if 12 <= len(v) <= 19 and v.isdigit():
        if luhn_ok(v):
            console.print("card number passes the Luhn check")
            return
        console.print("[red]card number fails the Luhn check[/]")
        raise typer.Exit(1)
    console.print(
        f"[red]not an identifier[/]: {len(v)} characters; expected an 18-character "
        "resident ID or USCC, or a 12-19 digit card number"
    )
    raise typer.Exit(1)
