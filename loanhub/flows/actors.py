"""Who a person says they are, before the name goes into the audit chain as the actor.

The actor is the one field of an audit event a person types freely (``--by``, ``--operator``,
``LOANHUB_ACTOR``). Unchecked, it could carry a newline (a forged second line in any log or
export that prints events one a line), a terminal escape, a right-to-left override that shows
another name, or a whole paragraph. So a name is short, printable ASCII of a few kinds:

- a person: ``[A-Za-z0-9._@-]{1,64}`` (a login, an e-mail address, ``j.doe``);
- the hub's own actors add a lower-case channel in front: ``cli:j.doe``, ``dashboard:ops1``
  (``[a-z][a-z0-9-]{0,15}:`` then a person's name).

Nothing is repaired or stripped: what does not fit is refused with the reason, so the chain
holds exactly what was typed or nothing.
"""

from __future__ import annotations

import re

PERSON = re.compile(r"[A-Za-z0-9._@-]{1,64}")
ACTOR = re.compile(r"(?:[a-z][a-z0-9-]{0,15}:)?[A-Za-z0-9._@-]{1,64}")
RULE = "1 to 64 of A-Z a-z 0-9 . _ @ -"


class InvalidActor(ValueError):
    """A name that may not stand as the actor of an audit event."""


def _why(value: str) -> str:
    if not value:
        return "empty"
    if len(value) > 64:
        return f"{len(value)} characters (at most 64)"
    bad = next((c for c in value if not PERSON.fullmatch(c)), None)
    if bad is not None:
        shown = repr(bad) if bad.isprintable() and bad != " " else f"U+{ord(bad):04X}"
        return f"character {shown} not allowed"
    return "not a name"


def person(value: str, what: str = "actor") -> str:
    """``value`` as a person's name for the audit chain (``--by``, ``--operator``), or
    ``InvalidActor`` saying which character or length is refused."""
    if PERSON.fullmatch(value):
        return value
    raise InvalidActor(f"{what} refused: {_why(value)}; a name is {RULE}")


def actor(value: str, what: str = "actor") -> str:
    """``value`` as an actor: a person's name, optionally after a channel (``cli:``)."""
    if ACTOR.fullmatch(value):
        return value
    channel, colon, name = value.partition(":")
    named = colon and re.fullmatch(r"[a-z][a-z0-9-]{0,15}", channel)
    reason = _why(name if named else value)
    raise InvalidActor(
        f"{what} refused: {reason}; a name is {RULE}, with an optional channel (cli:name)"
    )
