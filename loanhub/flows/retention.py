"""How long the hub keeps what it only needs for a while, and the purge that enforces it.

Five kinds, each with its own retention (``LOANHUB_RETENTION__*``), purged in this order:

- ``calls``: the journal of calls to legacy systems (``source_call``), from the call; 90 days;
- ``raw_payloads``: payloads as received (``evidence/raw``, where the lineage hashes point) and
  the masked request/response record of each exchange (``evidence/masked``), from when they
  were last received; 365 days;
- ``kept_files``: files taken from and sent to the legacy systems (``files/``: tax requests and
  answers, pain.001 and pain.002, nightly extracts), from when written; 365 days; their
  receipts stay (a file taken once is never taken again), without the path;
- ``bot_evidence``: the bots' screenshots and traces (``evidence/screens``); 30 days;
- ``personal_data``: the identity of the persons of closed applications, from the close;
  3650 days.

**Except what the archive keeps.** The case-file archive is never purged, wherever it is
configured (its files are the bank's record of a closed application). Personal data is only
cleared for applications whose case file is archived: the archive keeps the file as it was at
close (masked), the store then keeps the numbers without the person.

**Personal data** (the bank's expectation, decided here): ten years after an application
closed (the Anti-Money Laundering Law of 2024 keeps customer identification data at least ten
years after the business relationship ends), and only once every application of the person,
as applicant or guarantor, is closed that long and archived (a person with a running loan, or
a newer application, keeps their identity): the ID number is replaced everywhere in the store
by one random pseudonym (``~`` and 17 letters, not derived from the ID), names by their masked
form (surname kept), mobile and birth date removed, the work items and decision texts naming
them rewritten. Loans, payments, repayments and account numbers stay (accounting records), so
do the bank's blacklist (its own record, never deleted) and the audit chain (masked when
written, never rewritten). Enterprises are not persons: their codes and names are public.

Every purge of a kind is one audit event ``retention.purged`` (kind, how many, older than
when, the retention), written in the same transaction as the rows it deleted; for files, after
they went. A dry run changes nothing and writes nothing: it says what would go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, or_, select, update

from loanhub.platform import audit
from loanhub.platform import retention as sweep
from schemas.tables import application, case_archive, party
from schemas.types import utcnow

log = logging.getLogger(__name__)

KINDS = ("calls", "raw_payloads", "kept_files", "bot_evidence", "personal_data")
PURGED = "retention.purged"


class RetentionPolicy(BaseModel):
    """How long each kind is kept, in days (``LOANHUB_RETENTION__*``)."""

    call_days: int = Field(
        default=90, ge=1, description="calls to legacy systems older than this are purged"
    )
    raw_payload_days: int = Field(
        default=365, ge=1, description="raw payloads and masked exchange records: purged after"
    )
    file_days: int = Field(
        default=365, ge=1, description="files taken from or sent to legacy systems: purged after"
    )
    evidence_days: int = Field(
        default=30, ge=1, description="screen evidence older than this is purged"
    )
    personal_data_days: int = Field(
        default=3650,
        ge=1,
        description="after an application closed, its persons' identity is pseudonymised",
    )

    def days(self, kind: str) -> int:
        return {
            "calls": self.call_days,
            "raw_payloads": self.raw_payload_days,
            "kept_files": self.file_days,
            "bot_evidence": self.evidence_days,
            "personal_data": self.personal_data_days,
        }[kind]


@dataclass(frozen=True)
class RetentionAreas:
    """Where each kind lives on disk, and what is never purged (the archive)."""

    raw_payloads: Path
    exchanges: Path
    kept_files: Path
    screens: Path
    archive: Path

    @property
    def kept(self) -> tuple[Path, ...]:
        return (self.archive,)


@dataclass
class Purge:
    """What one kind's purge did (or, dry, would do)."""

    kind: str
    count: int
    older_than: datetime
    retention_days: int
    dry_run: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        extra = "".join(
            f", {k} {v}" for k, v in self.detail.items() if not isinstance(v, list | dict)
        )
        return (
            f"{verb} {self.count} {self.kind} older than {self.retention_days} days "
            f"(before {self.older_than.isoformat(timespec='seconds')}){extra}"
        )


def _audit(conn: Connection, actor: str, purge: Purge) -> None:
    audit.append(
        conn,
        actor=actor,
        action=PURGED,
        subject=purge.kind,
        after={
            "kind": purge.kind,
            "count": purge.count,
            "older_than": purge.older_than.isoformat(),
            "retention_days": purge.retention_days,
            **purge.detail,
        },
    )


def _files(
    engine: Engine,
    kind: str,
    found: Callable[[datetime], list[tuple[Path, list[Path]]]],
    days: int,
    now: datetime,
    areas: RetentionAreas,
    actor: str,
    dry_run: bool,
    after: Callable[[Connection, datetime], dict[str, Any]] | None = None,
) -> Purge:
    cutoff = now - timedelta(days=days)
    batches = found(cutoff)
    count = sum(len(paths) for _, paths in batches)
    purge = Purge(kind, count, cutoff, days, dry_run)
    if dry_run:
        return purge
    purge.count = sum(sweep.remove(paths, root, areas.kept) for root, paths in batches)
    with engine.begin() as conn:
        if after is not None:
            purge.detail.update(after(conn, cutoff))
        _audit(conn, actor, purge)
    return purge


def purge_calls(
    engine: Engine, days: int, now: datetime, actor: str, dry_run: bool = False
) -> Purge:
    cutoff = now - timedelta(days=days)
    with engine.begin() as conn:
        if dry_run:
            return Purge("calls", sweep.count_calls(conn, cutoff), cutoff, days, True)
        purge = Purge("calls", sweep.delete_calls(conn, cutoff), cutoff, days, False)
        _audit(conn, actor, purge)
    return purge


@dataclass(frozen=True)
class _Candidate:
    application_no: str
    persons: tuple[str, ...]


def _persons(conn: Connection, numbers: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each application's persons (applicant and guarantor that are not enterprises), by ID."""
    rows = conn.execute(
        select(
            application.c.application_no,
            application.c.party_id_number,
            application.c.guarantor_id_number,
        ).where(application.c.application_no.in_(list(numbers)))
    ).all()
    ids = {i for r in rows for i in (r.party_id_number, r.guarantor_id_number) if i}
    enterprises = set(
        conn.execute(
            select(party.c.id_number).where(
                party.c.id_number.in_(list(ids)), party.c.kind == "ENTERPRISE"
            )
        ).scalars()
    )
    return {
        r.application_no: tuple(
            i
            for i in (r.party_id_number, r.guarantor_id_number)
            if i and i not in enterprises and not sweep.is_pseudonym(i)
        )
        for r in rows
    }


def _clearable(conn: Connection, cutoff: datetime) -> set[str]:
    """Applications archived and closed before ``cutoff``: those whose persons may go."""
    return set(
        conn.execute(
            select(case_archive.c.application_no).where(case_archive.c.closed_at < cutoff)
        ).scalars()
    )


def _applications_of(conn: Connection, id_number: str) -> set[str]:
    return set(
        conn.execute(
            select(application.c.application_no).where(
                or_(
                    application.c.party_id_number == id_number,
                    application.c.guarantor_id_number == id_number,
                )
            )
        ).scalars()
    )


def _plan_clearing(
    conn: Connection, cutoff: datetime
) -> tuple[list[str], list[str], dict[str, str]]:
    """(applications to clear, applications held, a new pseudonym per person to replace)."""
    due = list(
        conn.execute(
            select(case_archive.c.application_no)
            .where(
                case_archive.c.closed_at < cutoff,
                case_archive.c.personal_data_cleared_at.is_(None),
            )
            .order_by(case_archive.c.closed_at, case_archive.c.application_no)
        ).scalars()
    )
    persons = _persons(conn, due)
    clearable = _clearable(conn, cutoff)
    cleared: list[str] = []
    held: list[str] = []
    pseudonyms: dict[str, str] = {}
    for number in due:
        mine = persons.get(number, ())
        others: set[str] = set().union(*(_applications_of(conn, p) for p in mine))
        if not others <= clearable:
            held.append(number)  # a person of it has another application still kept
            continue
        cleared.append(number)
        for person in mine:
            pseudonyms.setdefault(person, sweep.new_pseudonym())
    return cleared, held, pseudonyms


def purge_personal_data(
    engine: Engine, days: int, now: datetime, actor: str, dry_run: bool = False
) -> Purge:
    """Pseudonymise the persons of applications closed more than ``days`` ago (see above), in
    one transaction with its audit event: all of a run's clearing commits, or none."""
    cutoff = now - timedelta(days=days)
    if dry_run:
        with engine.connect() as conn:
            cleared, held, pseudonyms = _plan_clearing(conn, cutoff)
        detail = {"persons": len(pseudonyms), "held": len(held)}
        return Purge("personal_data", len(cleared), cutoff, days, True, detail)
    with engine.begin() as conn:
        cleared, held, pseudonyms = _plan_clearing(conn, cutoff)
        rows: dict[str, int] = {}
        for person, pseudonym in pseudonyms.items():
            theirs = sorted(_applications_of(conn, person))
            for table, n in sweep.pseudonymise(conn, person, pseudonym, theirs).items():
                rows[table] = rows.get(table, 0) + n
        if cleared:
            conn.execute(
                update(case_archive)
                .where(case_archive.c.application_no.in_(cleared))
                .values(personal_data_cleared_at=utcnow())
            )
        detail = {
            "persons": len(pseudonyms),
            "held": len(held),
            "applications": cleared,
            "rows": rows,
        }
        purge = Purge("personal_data", len(cleared), cutoff, days, False, detail)
        _audit(conn, actor, purge)
    return purge


def purge(
    engine: Engine,
    areas: RetentionAreas,
    policy: RetentionPolicy,
    *,
    actor: str,
    now: datetime | None = None,
    dry_run: bool = False,
    kinds: Sequence[str] = KINDS,
    days: dict[str, int] | None = None,
) -> list[Purge]:
    """Purge each of ``kinds`` older than its retention (``days`` overrides one, for the
    older by-hand commands); a kind that fails is logged and the others still run, then the
    first failure is raised."""
    now = now or utcnow()
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown retention kind(s): {', '.join(sorted(unknown))}")
    chosen = {k: (days or {}).get(k, policy.days(k)) for k in kinds}
    kept = areas.kept
    finders: dict[str, Callable[[datetime], list[tuple[Path, list[Path]]]]] = {
        "raw_payloads": lambda cut: [
            (areas.raw_payloads, sweep.old_files(areas.raw_payloads, cut, kept)),
            (areas.exchanges, sweep.old_files(areas.exchanges, cut, kept)),
        ],
        "kept_files": lambda cut: [
            (areas.kept_files, sweep.old_files(areas.kept_files, cut, kept))
        ],
        "bot_evidence": lambda cut: [(areas.screens, sweep.old_captures(areas.screens, cut, kept))],
    }
    done: list[Purge] = []
    failure: Exception | None = None
    for kind in [k for k in KINDS if k in chosen]:
        keep = chosen[kind]
        try:
            if kind == "calls":
                done.append(purge_calls(engine, keep, now, actor, dry_run))
            elif kind == "personal_data":
                done.append(purge_personal_data(engine, keep, now, actor, dry_run))
            else:
                after = _release_receipts if kind == "kept_files" else None
                done.append(
                    _files(engine, kind, finders[kind], keep, now, areas, actor, dry_run, after)
                )
        except Exception as exc:  # one kind must not keep the others past their retention
            log.warning("retention purge of %s failed: %s", kind, exc)
            failure = failure or exc
    if failure is not None:
        raise failure
    return done


def _release_receipts(conn: Connection, cutoff: datetime) -> dict[str, Any]:
    return {"receipts": sweep.release_receipts(conn, cutoff)}
