"""A lookup about one person run by hand (``loanhub bot history``): the same rules as the
harvest's, because the portal cannot tell a person at a terminal from the DAG.

- the ID is checked first (length, region, birth date, MOD 11-2 check character): a mistyped
  ID is nobody's, and would cost a browser, a login and a portal lookup about a stranger;
- the person's SOCIAL_SECURITY consent for the reason must be on record and unexpired
  (``ConsentBook.require``, what ``harvest.SocialSecurityStep`` asks): without it nothing is
  sent, and the refusal is audited by the consent book;
- with it, one audit event ``ss.history_looked_up`` (the ID masked, the consent's reference,
  the channel) is committed before the bot starts, so a lookup that fails midway, after the
  portal saw the ID, is on record too.
"""

from __future__ import annotations

from sqlalchemy import Engine

from loanhub.platform import audit
from loanhub.platform.consents import ConsentBook
from loanhub.platform.masking import mask_id
from schemas.identifiers import validate_resident_id

LOOKED_UP = "ss.history_looked_up"
SCOPE = "SOCIAL_SECURITY"


def allowed_history_lookup(
    engine: Engine, id_number: str, *, actor: str, reason: str = "01", channel: str = "cli"
) -> str:
    """The normalised ID, once it is valid, its consent is on record and the lookup is
    audited: the caller may then send it, and only it; ``InvalidIdentifier`` or
    ``ConsentMissing`` otherwise (nothing may be sent)."""
    wanted = validate_resident_id(id_number.strip())
    consent_ref = ConsentBook(engine, actor).require(wanted, SCOPE, reason)
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=actor,
            action=LOOKED_UP,
            subject=mask_id(wanted),
            after={"reason": reason, "consent_ref": consent_ref, "channel": channel},
        )
    return wanted
