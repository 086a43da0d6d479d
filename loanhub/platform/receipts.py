"""File receipts: every file the hub takes from a legacy system, by name and SHA-256.

A file seen before with the same content is a duplicate (taken once, never again); the same
name with other content is a re-delivery (a corrected file), taken again. States follow what
became of the file: RECEIVED, then LOADED, PARTIAL or REJECTED (kept, reported). A status
report is LOADED once the hub has applied it (what it says of each payment is stored).

An operator may let a taken file through once more (``retake``: a source that re-delivered
the same file after a fix on either side): its receipt goes back to RECEIVED, which every
reader of receipts already takes as "not taken yet", so the next run takes it, and marks it
anew. Which files may be retaken is policy (``loanhub.flows.operator_actions``).

Each receipt, each state a file reaches and each record loaded also add to the running totals
behind ``/metrics`` (``loanhub.platform.totals``) in the transaction that records them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from loanhub.platform import totals
from loanhub.platform.db import insert_or_ignore
from loanhub.platform.masking import mask_text
from schemas.hub import FileReceipt, FileState
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

    def get(self, receipt_id: int) -> FileReceipt | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(file_receipt).where(file_receipt.c.id == receipt_id)).first()
        return None if row is None else FileReceipt.model_validate(dict(row._mapping))

    def by_ids(self, ids: list[int]) -> list[FileReceipt]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(file_receipt).where(file_receipt.c.id.in_(ids))).all()
        return [FileReceipt.model_validate(dict(r._mapping)) for r in rows]

    def later_delivery(self, receipt: FileReceipt) -> FileReceipt | None:
        """A delivery of the same file received after ``receipt`` (other content): the
        newer one is what the source means now."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(file_receipt)
                .where(
                    file_receipt.c.source_system == receipt.source_system,
                    file_receipt.c.name == receipt.name,
                    file_receipt.c.id != receipt.id,
                    file_receipt.c.received_at >= receipt.received_at,
                )
                .order_by(file_receipt.c.received_at.desc(), file_receipt.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else FileReceipt.model_validate(dict(row._mapping))

    def retake(
        self,
        receipt: FileReceipt,
        *,
        actor: str,
        note: str,
        also: Callable[[Connection], None] | None = None,
    ) -> FileReceipt:
        """Let a taken file through once more: RECEIVED again, the operator named in its
        detail (the counts of the last take stay until the next take marks it). A
        compare-and-set on the state it was seen in, so two operators (or a run marking it
        meanwhile) cannot both act on it; ``also`` writes the caller's audit event in the same
        transaction. ``ValueError`` when the receipt changed since it was read."""
        with self.engine.begin() as conn:
            row = conn.execute(
                update(file_receipt)
                .where(file_receipt.c.id == receipt.id, file_receipt.c.state == receipt.state.value)
                .values(
                    state=FileState.RECEIVED.value,
                    detail=mask_text(f"let through again by {actor}: {note}")[:2000],
                    updated_at=utcnow(),
                )
                .returning(*file_receipt.c)
            ).first()
            if row is None:
                raise ValueError(f"{receipt.name} changed meanwhile: look again")
            if also is not None:
                also(conn)
        return FileReceipt.model_validate(dict(row._mapping))

    def newest(self, system: str, name: str) -> FileReceipt | None:
        """The newest delivery of ``name`` from ``system``, whatever became of it."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(file_receipt)
                .where(file_receipt.c.source_system == system, file_receipt.c.name == name)
                .order_by(file_receipt.c.received_at.desc(), file_receipt.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else FileReceipt.model_validate(dict(row._mapping))

    def newest_of(self, names: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The newest delivery's id of each (system, name), in one query."""
        if not names:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    file_receipt.c.source_system,
                    file_receipt.c.name,
                    file_receipt.c.id,
                    file_receipt.c.received_at,
                ).where(file_receipt.c.name.in_(sorted({n for _, n in names})))
            ).all()
        newest: dict[tuple[str, str], tuple[datetime, int]] = {}
        for system, name, rid, at in rows:
            if (system, name) in names and (
                (system, name) not in newest or (at, rid) > newest[system, name]
            ):
                newest[system, name] = (at, rid)
        return {k: rid for k, (_, rid) in newest.items()}

    def newest_taken(self, system: str, name: str) -> FileReceipt | None:
        """The newest delivery of ``name`` that was read and stored (LOADED or PARTIAL)."""
        taken = (FileState.LOADED.value, FileState.PARTIAL.value)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(file_receipt)
                .where(
                    file_receipt.c.source_system == system,
                    file_receipt.c.name == name,
                    file_receipt.c.state.in_(taken),
                )
                .order_by(file_receipt.c.received_at.desc(), file_receipt.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else FileReceipt.model_validate(dict(row._mapping))


def recount(
    conn: Connection, receipt: FileReceipt, quarantined: int, detail: str | None = None
) -> None:
    """A file's counts after its quarantined records were reprocessed: as many records as
    before (records in = loaded + quarantined), ``quarantined`` of them still refused; LOADED
    once none is, PARTIAL while some are."""
    total = (receipt.records_loaded or 0) + (receipt.records_quarantined or 0)
    quarantined = min(quarantined, total)
    conn.execute(
        update(file_receipt)
        .where(file_receipt.c.id == receipt.id)
        .values(
            records_loaded=total - quarantined,
            records_quarantined=quarantined,
            state=(FileState.PARTIAL if quarantined else FileState.LOADED).value,
            detail=None if detail is None else mask_text(detail)[:2000],
            updated_at=utcnow(),
        )
    )
