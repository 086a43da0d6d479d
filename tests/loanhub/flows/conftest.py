"""The flows under test: real simulators, the real store (PostgreSQL, or both stores where the
test asks for ``engine``), and the connectors built as the hub builds them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from connectors.evidence import EvidenceStore
from loanhub.platform.masking import mask_text
from schemas.tables import consent
from schemas.types import utcnow


@pytest.fixture
def evidence(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", mask_text)


def record_consent(
    engine: Engine, subject: str, reason: str = "01", scope: str = "BUREAU", ref: str | None = None
) -> str:
    """A consent of ``subject`` for ``scope`` and ``reason``, granted yesterday for 90 days."""
    ref = ref or f"CNS-{subject}-{scope}-{reason}"
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(consent).values(
                consent_ref=ref,
                party_id_number=subject,
                scope=scope,
                reason=reason,
                granted_at=now - timedelta(days=1),
                expires_at=now + timedelta(days=89),
                evidence_hash=None,
                source_system="intake",
                fetched_at=now,
                mapping_version="test",
                raw_payload_hash="0" * 64,
            )
        )
    return ref
