"""``loanhub bot``: a screen bot run by hand, exactly as its DAG task runs it, to see what it
sees when a portal changed.

By hand or not, the portal sees a lookup about a person: so the same rules as the harvest's
(``loanhub.flows.lookups``): a valid ID, the person's consent on record, the lookup audited
(the ID masked) before anything is sent."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import typer

from kernel.failures import LegacyError
from loanhub.cli.common import UrlOption, console, engine, fail, first_line, settings
from loanhub.platform.masking import known_names, mask_id, mask_text
from schemas.identifiers import InvalidIdentifier, validate_resident_id

app = typer.Typer(help="The screen bots, run by hand.", no_args_is_help=True)


def _name(value: str) -> str:
    """A person's name as the portal's form takes it: 1 to 50 characters, none of them a
    control or format character (a newline, U+202E), no blanks around it."""
    name = value.strip()
    if not 1 <= len(name) <= 50:
        raise typer.BadParameter(f"a name has 1 to 50 characters, got {len(name)}")
    bad = next((c for c in name if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}), None)
    if bad is not None:
        raise typer.BadParameter(f"character U+{ord(bad):04X} is not allowed in a name")
    return name


def _reason(value: str) -> str:
    if not re.fullmatch(r"[0-9]{2}", value):
        raise typer.BadParameter(f"a query reason is two digits (01: a loan), got {value!r}")
    return value


@app.command("history")
def bot_history(
    id_number: str,
    name: Annotated[str, typer.Argument(callback=_name)],
    reason: Annotated[
        str, typer.Option(help="the consent's query reason (01: a loan)", callback=_reason)
    ] = "01",
    url: UrlOption = None,
) -> None:
    """Fetch one person's contribution history from the social-security portal, as the DAG
    does (read-only: the portal records a lookup, nothing else). Refused without the person's
    SOCIAL_SECURITY consent for the reason; the lookup is audited, the ID masked."""
    from bots.browser import Chromium
    from bots.evidence import ScreenEvidence
    from bots.ss.bot import SocialSecurityBot
    from loanhub.flows.lookups import allowed_history_lookup
    from loanhub.platform.consents import ConsentMissing

    try:  # checked first: a mistyped ID would cost a browser, a login and a portal lookup
        validate_resident_id(id_number.strip())
    except InvalidIdentifier as exc:
        raise typer.BadParameter(str(exc), param_hint="ID_NUMBER") from exc
    hub = settings()
    try:
        portal = hub.legacy_endpoints().ss_portal
    except (OSError, ValueError) as exc:
        fail(first_line(exc))
    try:
        wanted = allowed_history_lookup(
            engine(url, migrated=True), id_number, actor=hub.actor, reason=reason
        )
    except ConsentMissing as exc:
        fail(f"{mask_id(id_number.strip().upper())}: {exc} (the refusal is audited)")
    known_names.add(name)
    with Chromium() as chromium:
        bot = SocialSecurityBot(
            portal,
            chromium,
            ScreenEvidence(hub.screen_evidence_dir, mask_text),
            mask_text,
        )
        try:
            history = bot.fetch_history(wanted, name)
        except LegacyError as exc:
            fail(f"{type(exc).__name__}: {mask_text(first_line(exc))} (evidence: {exc.evidence})")
    console.print(
        f"{mask_id(wanted)}: found={history.found}, {history.months} months from the "
        f"{history.source}, sha256 {history.raw_sha256[:16]}"
    )
