"""Walks of the audit chain, kept: when the chain was last verified, by whom, and the result.

Verifying the chain reads every event, which is far too much for each Prometheus scrape; so
``loanhub audit verify`` and the daily ``hub_housekeeping`` run record each walk here, and
``/metrics`` reports the newest one. The alert fires on a broken chain and also when no walk
was recorded for too long: a verification nobody runs proves nothing.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from loanhub.platform import audit
from loanhub.platform.audit import ChainReport
from loanhub.platform.audit_keys import AuditKeyring
from loanhub.platform.masking import mask_text
from schemas.hub import AuditVerification
from schemas.tables import audit_verification
from schemas.types import utcnow


def record(engine: Engine, report: ChainReport, head_hash: str | None, actor: str) -> None:
    """Keep one walk's result (its own transaction: a walk is no change to the chain)."""
    row = AuditVerification(
        verified_at=utcnow(),
        ok=report.ok,
        checked=report.checked,
        broken_seq=report.broken_seq,
        reason=None if report.reason is None else mask_text(report.reason)[:500],
        head_hash=head_hash,
        verified_by=actor[:120],
    )
    with engine.begin() as conn:
        conn.execute(insert(audit_verification).values(**row.model_dump(exclude={"id"})))


def latest(engine: Engine) -> AuditVerification | None:
    """The newest walk recorded, if any."""
    with engine.connect() as conn:
        found = (
            conn.execute(
                select(audit_verification).order_by(audit_verification.c.id.desc()).limit(1)
            )
            .mappings()
            .first()
        )
    return None if found is None else AuditVerification.model_validate(dict(found))


def walk(engine: Engine, ring: AuditKeyring, actor: str) -> tuple[ChainReport, str]:
    """Verify the whole chain and record the result (``loanhub audit verify``, and the daily
    ``hub_housekeeping`` run): a chain from before the key, intact, is keyed first by its one
    checkpoint. Returns the report and the head's hash; anchoring an intact head is the
    caller's (its failure is the caller's to say)."""
    report = audit.verify(engine, ring=ring)
    if report.ok and report.unkeyed and report.checked == report.unkeyed:
        audit.checkpoint_legacy(engine, ring)
        report = audit.verify(engine, ring=ring)
    _, head = audit.head(engine)
    record(engine, report, head, actor)
    return report, head
