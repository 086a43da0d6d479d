"""The case-file archive: one self-contained file per closed application, kept once.

A file's SHA-256 becomes evidence through the audit chain: archiving writes the file, then in
one transaction records it (``case_archive``, unique per application) and appends the
``case.archived`` event naming its hash. So:

- **once**: a second archiver (a re-run, a second worker) finds the row and stops; one that
  raced and lost removes its own file;
- **crash-safe**: the file is written aside, flushed and renamed under a name that carries its
  hash (``<application>.<sha256[:16]>.html``); a crash before the commit leaves a file nobody
  recorded, which the next attempt replaces and removes; one after it has nothing to redo;
- **kept private**: files are owner-only (0600) in an owner-only directory: a case file is
  masked, but it is still a customer's file.

What closes and when is the flows' policy (``loanhub.flows.archive``); the renderer of a case
file is handed in (``Renderer``), so this module neither knows nor imports how one looks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from kernel.files import private_dir
from loanhub.platform import audit
from loanhub.platform.audit_export import grouped
from loanhub.platform.db import insert_or_ignore
from loanhub.platform.masking import mask_structure, mask_text
from schemas.hub import CaseArchive
from schemas.tables import audit_event, case_archive
from schemas.types import utcnow

Renderer = Callable[[Engine, str], bytes]
"""Renders one application's case file as one self-contained document (HTML)."""

ARCHIVED = "case.archived"
SUFFIX = ".html"
_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_STALE_SECONDS = 3600  # a temporary file this old belongs to no archiver still running


class ArchiveError(ValueError):
    """An application number that cannot name a file, or an archive that cannot be read."""


def _safe(application_no: str) -> str:
    if not _SAFE.match(application_no):
        raise ArchiveError(f"{application_no!r} cannot name an archive file")
    return application_no


@dataclass(frozen=True)
class Archived:
    """What one attempt did: ``new`` (written and recorded now) or ``existing`` (archived
    before, by this or another archiver)."""

    record: CaseArchive
    new: bool


@dataclass(frozen=True)
class ArchiveCheck:
    """``archive verify``: what the file, the row and the audit chain each say."""

    application_no: str
    path: Path
    recorded_sha256: str
    file_sha256: str | None  # None: the file is missing
    event_seq: int | None  # the case.archived event found in the chain
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class CaseArchiveStore:
    """The archive directory and its records in the store."""

    def __init__(self, engine: Engine, root: Path, *, actor: str) -> None:
        self.engine = engine
        self.root = root
        self.actor = actor

    def path_of(self, record: CaseArchive) -> Path:
        return self.root / record.file_name

    def get(self, application_no: str) -> CaseArchive | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(case_archive).where(case_archive.c.application_no == application_no)
                )
                .mappings()
                .first()
            )
        return None if row is None else CaseArchive.model_validate(dict(row))

    def records(self) -> list[CaseArchive]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(case_archive).order_by(case_archive.c.archived_at))
            return [CaseArchive.model_validate(dict(r)) for r in rows.mappings()]

    def archived(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(case_archive.c.application_no)).scalars())

    def _prepare_root(self) -> None:
        private_dir(self.root)
        os.chmod(self.root, 0o700)

    def _write(self, name: str, content: bytes) -> Path:
        """``content`` under ``name``, whole or not at all, owner-only from its first byte."""
        final = self.root / name
        temp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        directory = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename survives a power cut before the commit names it
        finally:
            os.close(directory)
        return final

    def _leftovers(self, application_no: str, keep: str) -> None:
        """Files of earlier attempts that crashed before their commit, and stale temporaries."""
        for path in self.root.glob(f"{application_no}.*{SUFFIX}"):
            if path.name != keep:
                path.unlink(missing_ok=True)
        limit = time.time() - _STALE_SECONDS
        for temp in self.root.glob(f".{application_no}.*.tmp"):
            with contextlib.suppress(OSError):
                if temp.stat().st_mtime < limit:
                    temp.unlink()

    def archive(
        self,
        application_no: str,
        render: Renderer,
        *,
        closed_as: str,
        closed_at: datetime,
    ) -> Archived:
        """Archive the application's case file once: render, write, record and audit."""
        _safe(application_no)
        if (existing := self.get(application_no)) is not None:
            return Archived(existing, new=False)
        content = render(self.engine, application_no)
        if not isinstance(content, bytes | bytearray) or not content:
            raise ArchiveError(f"the renderer gave no document for {application_no}")
        digest = hashlib.sha256(content).hexdigest()
        name = f"{application_no}.{digest[:16]}{SUFFIX}"
        self._prepare_root()
        path = self._write(name, bytes(content))
        now = utcnow()
        # a failure from here on leaves the file in place: if the commit went through it is
        # the archive, if not the next attempt replaces it (``_leftovers``)
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert_or_ignore(conn, case_archive, ["application_no"])
                .values(
                    application_no=application_no,
                    closed_as=closed_as,
                    closed_at=closed_at,
                    file_name=name,
                    sha256=digest,
                    size_bytes=len(content),
                    archived_at=now,
                )
                .returning(case_archive.c.id)
            ).first()
            if inserted is not None:
                event = audit.append(
                    conn,
                    actor=self.actor,
                    action=ARCHIVED,
                    subject=application_no,
                    after=self._event_after(
                        application_no, name, digest, len(content), closed_as, closed_at
                    ),
                )
                conn.execute(
                    update(case_archive)
                    .where(case_archive.c.id == inserted.id)
                    .values(audit_seq=event.seq)
                )
        record = self.get(application_no)
        if record is None:  # pragma: no cover - the row was committed or found above
            raise ArchiveError(f"the archive of {application_no} was not recorded")
        if inserted is None and record.file_name != name:
            path.unlink(missing_ok=True)  # another archiver won the race: its file stands
        self._leftovers(application_no, record.file_name)
        return Archived(record, new=inserted is not None)

    @staticmethod
    def _event_after(
        application_no: str,
        name: str,
        digest: str,
        size: int,
        closed_as: str,
        closed_at: datetime,
    ) -> dict[str, Any]:
        return {
            "application_no": application_no,
            "closed_as": closed_as,
            "closed_at": closed_at.isoformat(),
            "file": name,
            "size_bytes": size,
            "sha256": grouped(digest),
        }

    def events_of(self, application_no: str) -> list[dict[str, Any]]:
        """The ``case.archived`` events of the application, found in the chain itself (not
        through the row, which a store user could change without breaking any hash)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_event)
                .where(
                    audit_event.c.action == ARCHIVED,
                    audit_event.c.subject == mask_text(application_no),
                )
                .order_by(audit_event.c.seq)
            )
            return [dict(r) for r in rows.mappings()]

    def verify(self, application_no: str) -> ArchiveCheck:
        """Recompute the file's SHA-256 and find its audit event: the file must hash to what
        the event says (and the row), and the event must still hash to its own hash."""
        record = self.get(_safe(application_no))
        if record is None:
            raise ArchiveError(f"{application_no} is not archived")
        path = self.path_of(record)
        problems: list[str] = []
        actual: str | None = None
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            problems.append(f"the file {path} is missing")
        if actual is not None and actual != record.sha256:
            problems.append("the file does not hash to what the store recorded")
        events = self.events_of(application_no)
        event = events[0] if events else None
        if event is None:
            problems.append("no case.archived event of it in the audit chain")
        else:
            if len(events) > 1:
                problems.append(f"{len(events)} case.archived events of it in the chain")
            if audit.event_hash(event) != event["hash"]:
                problems.append(f"its audit event {event['seq']} was altered")
            said = (event["after"] or {}).get("sha256")
            # the chain masks what it stores: compare as it would have stored the hash
            if actual is not None and said != mask_structure(grouped(actual)):
                problems.append(f"the file does not hash to what audit event {event['seq']} says")
            if record.audit_seq is not None and record.audit_seq != event["seq"]:
                problems.append(
                    f"the store names event {record.audit_seq}, the chain {event['seq']}"
                )
        return ArchiveCheck(
            application_no,
            path,
            record.sha256,
            actual,
            None if event is None else int(event["seq"]),
            tuple(problems),
        )
