"""The core banking system's customer service (SOAP, WS-Security): reads only."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from connectors.core import CoreConnector
from connectors.evidence import EvidenceStore
from loanhub.platform.masking import mask_text
from loanhub_provider.hooks.soap import SoapHook


class CoreHook(SoapHook):
    default_conn_name: ClassVar[str] = "loanhub_core"
    hook_name: ClassVar[str] = "Loanhub core banking"

    def get_connector(self, evidence_dir: Path | None = None) -> CoreConnector:
        evidence = EvidenceStore(evidence_dir, mask_text) if evidence_dir else None
        return CoreConnector(self.get_config(), mask_text, evidence)
