"""Builds the connectors and bots as the hub runs them: from settings, with the hub's services
injected.

A DAG task calls ``HubConnectors.build`` at run time (never at parse time): connectors get
their typed configuration from the endpoints file, and the hub's masking, evidence store and
call journal. The ledger, consent book and receipts are built beside them (``build_ledger``,
``loanhub.runtime.tasks.Hub``) and handed to the flows, never to a connector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bots.browser import Chromium
from bots.evidence import ScreenEvidence
from bots.los.bot import LosBot
from bots.ss.bot import SocialSecurityBot
from connectors.bureau import BureauConnector
from connectors.core import CoreConnector
from connectors.evidence import EvidenceStore
from connectors.extracts import CoreExtracts
from connectors.payments import Debtor, PaymentGatewayConnector
from connectors.sftp import SftpConnector
from connectors.smtp import Notifier
from connectors.tax import TaxExchange
from loanhub.platform.archive import CaseArchiveStore, Renderer
from loanhub.platform.calls import CallJournal
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings

BANK_CODE = "LHB001"
DEBTOR = Debtor("领航银行", "LHB0010000000001", BANK_CODE)


def build_ledger(settings: HubSettings, engine: Engine) -> WorkItemLedger:
    """The work-item ledger as the deployment configured it: its lease, and the actor the
    audit chain names for what the hub does by itself."""
    return WorkItemLedger(
        engine, lease=timedelta(seconds=settings.ledger.lease_seconds), actor=settings.actor
    )


@dataclass(frozen=True)
class HubConnectors:
    """The protocol clients of one worker process, one per legacy system and exchange: each
    with its typed endpoint, the hub's masking, the raw evidence store and the call journal
    injected. They hold no ledger, consent book or receipts: that is the flows' policy."""

    bureau: BureauConnector
    core: CoreConnector
    tax: TaxExchange
    payments: PaymentGatewayConnector
    extracts: CoreExtracts
    notifier: Notifier

    @classmethod
    def build(cls, settings: HubSettings, engine: Engine) -> HubConnectors:
        endpoints = settings.legacy_endpoints()
        evidence = EvidenceStore(settings.data_dir / "evidence", mask_text)
        calls = CallJournal(engine)
        files = settings.data_dir / "files"

        capped = endpoints.sftp.model_copy(update={"limits": settings.sftp_limits})

        def sftp(system: str) -> SftpConnector:
            return SftpConnector(capped, system=system, observer=calls)

        return cls(
            bureau=BureauConnector(endpoints.bureau, mask_text, evidence, observer=calls),
            core=CoreConnector(endpoints.core, mask_text, evidence, observer=calls),
            tax=TaxExchange(sftp("tax"), files / "tax", BANK_CODE),
            payments=PaymentGatewayConnector(
                sftp("gateway"), DEBTOR, files / "payments", zone=ZoneInfo(settings.timezone)
            ),
            extracts=CoreExtracts(sftp("core"), files / "core" / "incoming"),
            notifier=Notifier(endpoints.smtp, mask_text, observer=calls),
        )


@dataclass(frozen=True)
class HubBots:
    """The screen bots of one worker process: they share its one Chromium."""

    social_security: SocialSecurityBot
    los: LosBot
    evidence: ScreenEvidence

    @classmethod
    def build(
        cls,
        settings: HubSettings,
        engine: Engine,
        chromium: Chromium,
        *,
        los_user: str | None = None,
    ) -> HubBots:
        endpoints = settings.legacy_endpoints()
        evidence = ScreenEvidence(settings.screen_evidence_dir, mask_text)
        calls = CallJournal(engine)
        return cls(
            social_security=SocialSecurityBot(
                endpoints.ss_portal, chromium, evidence, mask_text, observer=calls
            ),
            los=LosBot(
                endpoints.los.login(los_user), chromium, evidence, mask_text, observer=calls
            ),
            evidence=evidence,
        )


def case_file_renderer(settings: HubSettings) -> Renderer:
    """What archives are rendered with: the case file of the dashboard, as one self-contained
    HTML document, in the archive's language (``LOANHUB_ARCHIVE__LANG``). The renderer is the
    case file's (``loanhub.flows.casefile.render_standalone``); the archive takes any renderer
    handed in, so its tests can use their own."""
    from loanhub.flows.casefile.render import render_standalone

    lang = settings.archive.lang

    def render(engine: Engine, application_no: str) -> bytes:
        return bytes(render_standalone(engine, application_no, lang=lang))

    return render


def case_archive(settings: HubSettings, engine: Engine) -> CaseArchiveStore:
    """The archive of closed applications' case files, as the deployment configured it."""
    return CaseArchiveStore(engine, settings.archive_dir, actor=settings.actor)
