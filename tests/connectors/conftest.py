"""Connectors under test are wired as the hub wires them: real simulators, real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from connectors.config import RetryPolicy, SftpConfig, SoapConfig
from connectors.evidence import EvidenceStore
from loanhub.platform.consents import ConsentBook
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.tables import consent
from schemas.types import utcnow

FAST_RETRY = RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05)


def soap_config(endpoints: dict, system: str, **over: object) -> SoapConfig:
    return SoapConfig.model_validate({**endpoints[system], "retry": FAST_RETRY, **over})


def sftp_config(endpoints: dict, **over: object) -> SftpConfig:
    return SftpConfig.model_validate({**endpoints["sftp"], "retry": FAST_RETRY, **over})


@pytest.fixture
def evidence(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", mask_text)


@pytest.fixture
def guard(pg_engine: Engine) -> LedgerGuard:
    return LedgerGuard(WorkItemLedger(pg_engine, owner="test"), wait_seconds=20)


@pytest.fixture
def consents(pg_engine: Engine) -> ConsentBook:
    return ConsentBook(pg_engine)


def record_consent(
    engine: Engine, subject: str, reason: str = "01", scope: str = "BUREAU", ref: str | None = None
) -> str:
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
