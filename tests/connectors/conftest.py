"""Connectors under test are plain protocol clients against the real simulators: a typed
config, a local evidence folder and the hub's masking, and no database at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import RetryPolicy, SftpConfig, SoapConfig
from connectors.evidence import EvidenceStore
from loanhub.platform.masking import mask_text

FAST_RETRY = RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05)


def soap_config(endpoints: dict, system: str, **over: object) -> SoapConfig:
    return SoapConfig.model_validate({**endpoints[system], "retry": FAST_RETRY, **over})


def sftp_config(endpoints: dict, **over: object) -> SftpConfig:
    return SftpConfig.model_validate({**endpoints["sftp"], "retry": FAST_RETRY, **over})


@pytest.fixture
def evidence(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", mask_text)
