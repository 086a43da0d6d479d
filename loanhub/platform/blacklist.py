"""The bank's own blacklist, kept by credit ops: a party on it is rejected by the rules whatever
the bureau, the tax authority or the portal say.

No legacy system holds this list (it is the bank's decision, not a source's fact), so the hub
keeps it: each listing and lifting is a row and an audit event in one transaction, and nothing
is ever deleted, so a decision made while someone was listed can still be explained.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update

from loanhub.platform import audit
from schemas.hub import BlacklistEntry
from schemas.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc
from schemas.tables import blacklist_entry
from schemas.types import utcnow


def party_id(value: str) -> str:
    """A resident ID or a USCC, normalised; anything else is refused with its reason."""
    try:
        return validate_resident_id(value)
    except InvalidIdentifier as as_person:
        try:
            return validate_uscc(value)
        except InvalidIdentifier as as_firm:
            raise InvalidIdentifier(
                f"neither a resident ID ({as_person}) nor a USCC ({as_firm})"
            ) from None


def is_listed(conn: Connection, id_number: str) -> bool:
    """Whether ``id_number`` is on the list now (an entry not lifted)."""
    found = conn.execute(
        select(blacklist_entry.c.id).where(
            blacklist_entry.c.id_number == id_number.upper(), blacklist_entry.c.lifted_at.is_(None)
        )
    ).first()
    return found is not None


def add(engine: Engine, id_number: str, reason: str, by: str) -> bool:
    """List a party; False when it is listed already (one open entry per party)."""
    id_number = party_id(id_number)
    with engine.begin() as conn:
        if is_listed(conn, id_number):
            return False
        entry = BlacklistEntry(id_number=id_number, reason=reason, listed_by=by, listed_at=utcnow())
        conn.execute(blacklist_entry.insert().values(entry.model_dump(exclude={"id"})))
        audit.append(
            conn, actor=by, action="blacklist.add", subject=id_number, after={"reason": reason}
        )
    return True


def lift(engine: Engine, id_number: str, by: str) -> bool:
    """Take a party off the list; False when it was not on it."""
    id_number = party_id(id_number)
    with engine.begin() as conn:
        lifted = conn.execute(
            update(blacklist_entry)
            .where(blacklist_entry.c.id_number == id_number, blacklist_entry.c.lifted_at.is_(None))
            .values(lifted_by=by, lifted_at=utcnow())
        ).rowcount
        if lifted:
            audit.append(conn, actor=by, action="blacklist.lift", subject=id_number)
    return bool(lifted)


def entries(engine: Engine, *, include_lifted: bool = False) -> list[BlacklistEntry]:
    query = select(blacklist_entry).order_by(blacklist_entry.c.listed_at)
    if not include_lifted:
        query = query.where(blacklist_entry.c.lifted_at.is_(None))
    with engine.connect() as conn:
        return [BlacklistEntry.model_validate(dict(r)) for r in conn.execute(query).mappings()]
