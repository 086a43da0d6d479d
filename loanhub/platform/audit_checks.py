"""Walks of the audit chain, kept: when the chain was last verified, by whom, and the result.

Verifying the chain reads every event, which is far too much for each Prometheus scrape; so
``loanhub audit verify`` (by hand, or from cron) records each walk here, and ``/metrics``
reports the newest one. The alert fires on a broken chain and also when no walk was recorded
for too long: a verification nobody runs proves nothing.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from loanhub.platform.audit import ChainReport
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
