"""The credit bureau (SOAP, WS-Security) as a hook a DAG of one's own can use alone:
``BureauHook().get_connector(evidence_dir).query(...)``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from connectors.bureau import BureauConnector
from connectors.evidence import EvidenceStore
from loanhub.platform.masking import mask_text
from loanhub_provider.hooks.soap import SoapHook


class BureauHook(SoapHook):
    default_conn_name: ClassVar[str] = "loanhub_bureau"
    hook_name: ClassVar[str] = "Loanhub credit bureau"

    def get_connector(self, evidence_dir: Path, operator_id: str = "loanhub") -> BureauConnector:
        """The bureau's protocol client; raw reports are kept under ``evidence_dir``, personal
        data masked in what it logs. No consent check or once-only here: that is the hub's
        flows' policy (``loanhub.flows.harvest``), which a DAG of one's own must keep itself."""
        return BureauConnector(
            self.get_config(), mask_text, EvidenceStore(evidence_dir, mask_text), operator_id
        )
