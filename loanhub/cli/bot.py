"""``loanhub bot``: a screen bot run by hand, exactly as its DAG task runs it, to see what it
sees when a portal changed."""

from __future__ import annotations

import typer

from kernel.failures import LegacyError
from loanhub.cli.common import console, fail, first_line, settings
from loanhub.platform.masking import known_names, mask_id, mask_text
from schemas.identifiers import InvalidIdentifier, validate_resident_id

app = typer.Typer(help="The screen bots, run by hand.", no_args_is_help=True)


@app.command("history")
def bot_history(id_number: str, name: str) -> None:
    """Fetch one person's contribution history from the social-security portal, as the DAG
    does (read-only: the portal records a lookup, nothing else)."""
    from bots.browser import Chromium
    from bots.evidence import ScreenEvidence
    from bots.ss.bot import SocialSecurityBot

    try:  # checked first: a mistyped ID would cost a browser, a login and a portal lookup
        validate_resident_id(id_number.strip())
    except InvalidIdentifier as exc:
        raise typer.BadParameter(str(exc), param_hint="ID_NUMBER") from exc
    hub = settings()
    try:
        portal = hub.legacy_endpoints().ss_portal
    except (OSError, ValueError) as exc:
        fail(first_line(exc))
    known_names.add(name)
    with Chromium() as chromium:
        bot = SocialSecurityBot(
            portal,
            chromium,
            ScreenEvidence(hub.screen_evidence_dir, mask_text),
            mask_text,
        )
        try:
            history = bot.fetch_history(id_number, name)
        except LegacyError as exc:
            console.print(f"[red]{type(exc).__name__}[/]: {exc} (evidence: {exc.evidence})")
            raise typer.Exit(1) from exc
    console.print(
        f"{mask_id(id_number)}: found={history.found}, {history.months} months from the "
        f"{history.source}, sha256 {history.raw_sha256[:16]}"
    )
