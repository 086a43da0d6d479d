"""The operator actions as the CLI and the dashboard run them: the legacy systems' readers and
the evidence store built from settings, on first use, and given back after.

Reading one item touches one system: the gateway's SFTP for a payment, the LOS in Chromium
for a decision posting (the browser is started for that reading and closed after it), the
bureau's SOAP service for an inquiry; a mail reaches nothing. The ledger names the operator
as its actor, so every transition and its audit event say who acted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cache

from sqlalchemy import Engine

from bots.browser import Chromium
from connectors.evidence import EvidenceStore
from loanhub.flows.operator_actions import Readers
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubBots, HubConnectors


def operator_ledger(settings: HubSettings, engine: Engine, actor: str) -> WorkItemLedger:
    """The ledger an operator acts through: the deployment's lease, the operator as actor."""
    return WorkItemLedger(
        engine, lease=timedelta(seconds=settings.ledger.lease_seconds), actor=actor
    )


@contextmanager
def legacy_readers(settings: HubSettings, engine: Engine) -> Iterator[Readers]:
    """The readers of the legacy systems, each built when first asked for; the browser a
    LOS reading started is closed on the way out."""
    browser: list[Chromium] = []

    @cache
    def connectors() -> HubConnectors:
        return HubConnectors.build(settings, engine)

    @cache
    def bots() -> HubBots:
        browser.append(Chromium())
        return HubBots.build(settings, engine, browser[0])

    try:
        yield Readers(
            gateway=lambda: connectors().payments,
            los=lambda: bots().los,
            bureau=lambda: connectors().bureau,
        )
    finally:
        for started in browser:
            started.close()


def raw_evidence(settings: HubSettings) -> EvidenceStore:
    """The evidence store the connectors keep raw payloads in (a bureau report, by hash)."""
    return EvidenceStore(settings.data_dir / "evidence", mask_text)
