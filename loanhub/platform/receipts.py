"""File receipts: every file the hub takes from a legacy system, by name and SHA-256.

A file seen before with the same content is a duplicate (taken once, never again); the same
name with other content is a re-delivery (a corrected file), taken again. States follow what
became of the file: RECEIVED, then LOADED, PARTIAL or REJECTED (kept, reported). A status
report is LOADED once the hub has applied it (what it says of each payment is stored).

Each receipt, each state a file reaches and each record loaded also add to the running totals
behind ``/metrics`` (``loanhub.platform.totals``) in the transaction that records them.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update

from loanhub.platform import totals
from loanhub.platform.db import insert_or_ignore
from schemas.hub import FileState
from schemas.tables import file_receipt
from schemas.types import utcnow

_COUNTS = ("records_loaded", "records_quarantined")
RECEIVED = "files_received"  # per system: files taken (a duplicate is not taken)
OUTCOMES = "file_outcomes"  # per system and state: each time a file reached LOADED/PARTIAL/...
RECORDS_LOADED = "file_records_loaded"  # per system: records loaded (a re-take adds its own)


class FileReceiptBook:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, system: str, name: str, sha256: str, size: int) -> str:
        now = utcnow()
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert_or_ignore(conn, file_receipt)
                .values(
                    source_system=system,
                    name=name,
                    sha256=sha256,
                    size_bytes=size,
                    state=FileState.RECEIVED.value,
                    received_at=now,
                    updated_at=now,
                )
                .returning(file_receipt.c.id)
            ).first()
            if inserted is None:
                return "duplicate"
            totals.add(conn, {totals.key(RECEIVED, system=system): 1})
            earlier = conn.execute(
                select(file_receipt.c.id)
                .where(
                    file_receipt.c.source_system == system,
                    file_receipt.c.name == name,
                    file_receipt.c.sha256 != sha256,
                )
                .limit(1)
            ).first()
        return "redelivery" if earlier else "new"

    def mark(
        self,
        system: str,
        name: str,
        sha256: str,
        state: FileState,
        detail: str | None = None,
        kept_at: str | None = None,
        records: tuple[int, int] | None = None,
        conn: Connection | None = None,
    ) -> None:
        """What became of the file; ``records`` = (loaded, quarantined) once it was read.
        ``conn``: inside the caller's transaction, so that the receipt says a file was applied
        exactly when what it said was stored (a status report and the payment it settles)."""
        counts = {} if records is None else dict(zip(_COUNTS, records, strict=True))
        if conn is not None:
            self._mark(conn, system, name, sha256, state, detail, kept_at, counts)
            return
        with self.engine.begin() as own:
            self._mark(own, system, name, sha256, state, detail, kept_at, counts)

    @staticmethod
    def _mark(
        conn: Connection,
        system: str,
        name: str,
        sha256: str,
        state: FileState,
        detail: str | None,
        kept_at: str | None,
        counts: dict[str, int],
    ) -> None:
        """The update, and what it adds to the totals: a state the file was not in yet, and
        the records loaded beyond those the receipt already said (read under a row lock, so
        two markings of one file count its records once)."""
        match = (
            file_receipt.c.source_system == system,
            file_receipt.c.name == name,
            file_receipt.c.sha256 == sha256,
        )
        before = conn.execute(
            select(file_receipt.c.state, file_receipt.c.records_loaded)
            .where(*match)
            .with_for_update()
        ).first()
        conn.execute(
            update(file_receipt)
            .where(*match)
            .values(
                state=state.value, detail=detail, kept_at=kept_at, updated_at=utcnow(), **counts
            )
        )
        if before is None:
            return
        added: dict[totals.Key, int] = {}
        if state is not FileState.RECEIVED and before.state != state.value:
            added[totals.key(OUTCOMES, system=system, state=state.value)] = 1
        if "records_loaded" in counts:
            added[totals.key(RECORDS_LOADED, system=system)] = counts["records_loaded"] - (
                before.records_loaded or 0
            )
        totals.add(conn, added)

    def state(self, system: str, name: str, sha256: str) -> FileState | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(file_receipt.c.state).where(
                    file_receipt.c.source_system == system,
                    file_receipt.c.name == name,
                    file_receipt.c.sha256 == sha256,
                )
            ).scalar()
        return None if value is None else FileState(value)

    def loaded(self, system: str, name: str) -> bool:
        """Whether some delivery of ``name`` was read and stored (LOADED or PARTIAL): what was
        taken need not come again, even once the sender has deleted it."""
        taken = (FileState.LOADED.value, FileState.PARTIAL.value)
        with self.engine.connect() as conn:
            found = conn.execute(
                select(file_receipt.c.id)
                .where(
                    file_receipt.c.source_system == system,
                    file_receipt.c.name == name,
                    file_receipt.c.state.in_(taken),
                )
                .limit(1)
            ).first()
        return found is not None
