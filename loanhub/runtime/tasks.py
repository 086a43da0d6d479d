"""What the DAG tasks call: one function per step, taking and returning ids and counts only
(XCom carries no payloads), building the hub's services from settings at run time.

A worker process builds its engine, connectors and browser once and reuses them across the
tasks it runs (``Hub.here``): a fresh zeep client or Chromium per task would cost more than
the work itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any, ClassVar

from sqlalchemy import Engine

from bots.browser import Chromium
from connectors.tax import TaxQuery
from kernel.failures import ContractError, TransientError
from loanhub.flows import decide, harvest, profile, returns, tax_requests
from loanhub.flows.postloan import POST_LOAN
from loanhub.flows.rules import RuleSet
from loanhub.platform.audit_keys import AuditKeyring, use_audit_keyring
from loanhub.platform.consents import ConsentBook
from loanhub.platform.db import open_store
from loanhub.platform.files import owner_only_process
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import install_log_masking
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.clock import BankClock
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubBots, HubConnectors, build_ledger
from schemas.types import utcnow

log = logging.getLogger(__name__)


@dataclass
class Hub:
    settings: HubSettings

    _current: ClassVar[Hub | None] = None

    @classmethod
    def here(cls) -> Hub:
        """This process's hub, built on first use from the environment's settings: what every
        task of the hub starts with, so the task process is owner-only (umask 077, the data
        directory 0700) before it writes a file, and masks identifiers in its log lines."""
        if cls._current is None:
            install_log_masking()
            settings = HubSettings()
            owner_only_process(settings.data_dir)
            hub = cls._current = cls(settings)
            use_audit_keyring(lambda: hub.audit_keyring)  # appends and anchors: one key
        return cls._current

    @cached_property
    def audit_keyring(self) -> AuditKeyring:
        """The audit chain's key and anchor directory, resolved on first use."""
        return self.settings.audit_keyring

    @cached_property
    def clock(self) -> BankClock:
        """The bank's day (``LOANHUB_TIMEZONE``): what every flow is given as "today"."""
        return BankClock.named(self.settings.timezone)

    @cached_property
    def engine(self) -> Engine:
        return open_store(self.settings.store_url)

    @cached_property
    def ledger(self) -> WorkItemLedger:
        return build_ledger(self.settings, self.engine)

    @cached_property
    def guard(self) -> LedgerGuard:
        return LedgerGuard(self.ledger)

    @cached_property
    def receipts(self) -> FileReceiptBook:
        return FileReceiptBook(self.engine)

    @cached_property
    def consents(self) -> ConsentBook:
        return ConsentBook(self.engine, self.settings.actor)

    @cached_property
    def bureau(self) -> harvest.BureauInquiries:
        """The bureau as the flows may query it: with consent, once, reused for 30 days."""
        return harvest.BureauInquiries(self.connectors.bureau, self.consents, self.guard)

    @cached_property
    def connectors(self) -> HubConnectors:
        return HubConnectors.build(self.settings, self.engine)

    @cached_property
    def chromium(self) -> Chromium:
        return Chromium()

    def release_browser(self) -> None:
        """Close this process's Chromium if a task started one (the next task starts it again).
        A task about to defer holds nothing while it waits; and under ``dag.test()`` the trigger
        then runs in this very process, whose ``asyncio.run`` cannot start while Playwright's
        sync API keeps its own event loop running."""
        started = self.__dict__.pop("chromium", None)
        self.__dict__.pop("bots", None)
        if started is not None:
            started.close()

    @cached_property
    def bots(self) -> HubBots:
        return HubBots.build(self.settings, self.engine, self.chromium)


def before_deferring() -> None:
    """What a task gives up before it defers: the process's browser (``Hub.release_browser``)."""
    if Hub._current is not None:
        Hub._current.release_browser()


# -- credit_harvest ---------------------------------------------------------------------------


def harvest_batches(application_nos: list[str], batch_size: int) -> list[list[str]]:
    """The applications to harvest (the named ones, or every one received), in batches."""
    found = [a.application_no for a in harvest.applicants(Hub.here().engine, application_nos)]
    return [found[i : i + batch_size] for i in range(0, len(found), batch_size)]


def harvest_source(source: str, application_nos: list[str]) -> dict[str, int]:
    """One source for one batch; a failing applicant does not stop the others, but fails the
    task at the end so Airflow retries it (what succeeded is not repeated: work items and
    business keys)."""
    hub = Hub.here()
    steps: dict[str, Callable[[], harvest.SourceStep]] = {
        "bureau": lambda: harvest.BureauStep(hub.engine, hub.bureau),
        "core": lambda: harvest.CoreStep(
            hub.engine, hub.connectors.core, hub.clock.today(), hub.consents
        ),
        "social_security": lambda: harvest.SocialSecurityStep(
            hub.engine, hub.bots.social_security, hub.consents
        ),
    }
    if source not in steps:
        raise ValueError(f"unknown source {source!r}")
    if source == "bureau":
        settle_bureau()  # a lost answer is retrieved first, never queried again
    batch = harvest.applicants(hub.engine, application_nos)
    outcome = harvest.run_batch(steps[source](), batch)
    if outcome.errors:
        raise RuntimeError(
            f"{source}: {len(outcome.errors)} of {len(batch)} failed: {outcome.errors[:3]}"
        )
    return outcome.counts()


def settle_bureau() -> dict[str, int]:
    """Bureau inquiries whose answer was lost, retrieved by their request reference (no second
    hard inquiry); one the bureau never received fails transient and is queried once more.
    Items the bureau cannot answer for now stay in doubt for the next run (answers are kept 7
    days), so this never fails the task."""
    hub = Hub.here()
    counts = harvest.settle_bureau_inquiries(hub.ledger, hub.connectors.bureau)
    if counts.get("left"):
        log.warning("bureau: %d inquiries still in doubt after settling", counts["left"])
    return counts


def submit_tax(
    application_nos: list[str], purpose: str = "harvest", now: datetime | None = None
) -> dict[str, Any]:
    """Upload the batch's tax request under its own sequence number for the day; returns what
    the wait for its answer needs. A post-loan re-pull suffixes its request ids with the day,
    so its answers are stored beside the ones from origination, and asks with the post-loan
    consent (reason 02). Applicants without consent are refused alone; when none has one,
    nothing is uploaded and the request is ``""`` (its wait then ends at once). The file's day
    is the bank's (``now``: the clock, for tests)."""
    hub = Hub.here()
    day = hub.clock.today(now)
    suffix = "" if purpose == "harvest" else f"-R{day:%y%m%d}"
    ledger = hub.ledger
    batch = harvest.applicants(hub.engine, application_nos)
    reason = tax_reason(purpose)
    queries = harvest.tax_queries(hub.consents, batch, suffix, reason)
    if not queries:
        log.warning("tax: no applicant of %s has a %s consent: nothing asked", purpose, reason)
        return {"request": "", "batch": application_nos, "suffix": suffix, "purpose": purpose}
    name = tax_requests.submit_request(
        ledger, hub.connectors.tax, queries, day, application_nos, purpose
    )
    return {"request": name, "batch": application_nos, "suffix": suffix, "purpose": purpose}


def tax_reason(purpose: str) -> str:
    """The consent a tax request of ``purpose`` asks under: loan approval (01) for the
    harvest, post-loan management (02) for a re-pull."""
    return "01" if purpose == "harvest" else POST_LOAN


def tax_request_in_force(
    request: str, application_nos: list[str], suffix: str = "", purpose: str = "harvest"
) -> str:
    """The request to wait for: ``request``, or the one that asked again in its place once
    its answer could no longer come (older than the authority keeps answers), asked once."""
    hub = Hub.here()
    if not request:  # nothing was asked (no applicant had consent): nothing to wait for
        return request

    def queries() -> list[TaxQuery]:
        batch = harvest.applicants(hub.engine, application_nos)
        return harvest.tax_queries(hub.consents, batch, suffix, tax_reason(purpose))

    return tax_requests.request_in_force(
        hub.ledger,
        hub.connectors.tax,
        hub.receipts,
        request,
        application_nos,
        purpose,
        queries,
        zone=hub.clock.zone,
    )


def tax_wait_seconds() -> int:
    return Hub.here().settings.orchestration.tax_wait_seconds


def collect_tax(request: str, application_nos: list[str], suffix: str = "") -> bool:
    """Take and store the answer; False while it has not arrived (nothing to wait for when
    nothing was asked: ``submit_tax`` had no consented applicant)."""
    if not request:
        return True
    hub = Hub.here()
    batch = harvest.applicants(hub.engine, application_nos)
    return harvest.collect_tax(hub.engine, hub.connectors.tax, hub.receipts, request, batch, suffix)


def build_profiles(application_nos: list[str]) -> int:
    hub = Hub.here()
    batch = harvest.applicants(hub.engine, application_nos)
    for a in batch:
        profile.build_profile(hub.engine, a)
    return len(batch)


# -- credit_decision --------------------------------------------------------------------------


def evaluate(application_nos: list[str], rule_set: str, maker: str) -> list[dict[str, Any]]:
    """Rule decisions stored; each referral as its review request: the masked summary, and
    the approvers of its tier who are not the maker."""
    engine = Hub.here().engine
    rules = RuleSet.load(rule_set)
    chosen = application_nos or decide.undecided(engine)
    requests = []
    for r in decide.evaluate(engine, rules, chosen):
        try:
            approvers = rules.approvers(r.tier, maker)
        except ValueError as exc:  # nobody but the maker may answer: not asked at all
            log.warning("%s not referred: %s", r.application_no, exc)
            continue
        requests.append(
            {
                "application_no": r.application_no,
                "subject": r.subject,
                "body": r.body,
                "approvers": approvers,
                "score": r.score,
                "rate": r.rate,
                "tier": r.tier,
                "round": r.round,
            }
        )
    return requests


def record_review(
    referral: dict[str, Any],
    *,
    chosen: str,
    responder: str,
    comment: str | None,
    maker: str,
    rule_set: str,
) -> str:
    """A person's answer, recorded if the four-eyes rules allow it; ``refused`` if not (the
    application stays undecided and is referred again by the next run)."""
    item = decide.Referral(
        referral["application_no"],
        referral["subject"],
        referral["body"],
        referral["score"],
        referral["rate"],
        referral["tier"],
        referral.get("round", 1),  # a referral asked before rounds existed: round 1
    )
    try:
        made = decide.record_review(
            Hub.here().engine,
            RuleSet.load(rule_set),
            item,
            chosen=chosen,
            responder=responder,
            maker=maker,
            comment=comment,
        )
    except decide.ReviewRefused as exc:
        log.warning("%s: answer refused: %s", item.application_no, exc)
        return "refused"
    return made.outcome.value


def decided_applications(application_nos: list[str]) -> list[str]:
    """The named applications that have a decision to post, or every unposted one."""
    engine = Hub.here().engine
    if not application_nos:
        return decide.unposted(engine)
    return [n for n in application_nos if decide.decided(engine, n) is not None]


def settle_los_decisions() -> dict[str, int]:
    """LOS postings nobody knows the outcome of (a kill after the submit, a lost answer),
    settled by reading the application's status page: never by submitting again."""
    hub = Hub.here()
    return decide.settle_los_decisions(hub.engine, hub.ledger, hub.bots.los)


def post_decisions(application_nos: list[str]) -> dict[str, int]:
    """Settle what is in doubt, then post every decided application once. One application that
    fails, needs a person or is in doubt never stops the others; the task fails at the end only
    when a retry could post more (the LOS busy or down), and a retry posts nothing twice.
    Credit ops is then mailed once per return for more documents the LOS took."""
    hub = Hub.here()
    settled = settle_los_decisions()
    outcome = decide.post_decisions(hub.engine, hub.bots.los, hub.guard, application_nos)
    counts = {name: len(found) for name, found in outcome.summary().items()}
    told = returns.notify_returns(hub.engine, hub.connectors.notifier, hub.guard)
    counts["returns_mailed"] = told["notified"]
    log.info("LOS posting: settled %s, then %s; returns %s", settled, outcome.summary(), told)
    if outcome.worth_retrying:
        again = sorted([*outcome.failed_transient, *outcome.errors])
        raise TransientError(f"LOS posting to retry for {len(again)}: {again[:5]}")
    return counts


# -- loan_disbursement ------------------------------------------------------------------------


def book_loans() -> list[str]:
    """Each new loan starts on the bank's today."""
    from loanhub.flows import disburse

    hub = Hub.here()
    return disburse.book_loans(hub.engine, today=hub.clock.today())


def send_payments() -> dict[str, Any]:
    """One pain.001 per pending tranche; one tranche that fails, conflicts, needs a person or
    is in doubt never stops the others, and the task fails at the end only when a retry could
    send more. Returns how many were sent and the tranches (EndToEndIds) in each queue."""
    from loanhub.flows import disburse

    hub = Hub.here()
    run = disburse.pay_tranches(hub.engine, hub.connectors.payments, hub.guard)
    log.info("payments: %s", run.summary())
    if (error := run.retry_error()) is not None:
        raise error
    return run.summary()


def settle_doubts() -> dict[str, int]:
    from loanhub.flows import disburse

    hub = Hub.here()
    return disburse.resolve_in_doubt(hub.engine, hub.connectors.payments, hub.receipts, hub.ledger)


def refresh_pending_reviews() -> int:
    """First settle the LOS postings in doubt (an approval settled to DONE can then be paid in
    this run), then read again the approvals that waited for the LOS checker."""
    hub = Hub.here()
    settle_los_decisions()
    return decide.refresh_pending(hub.engine, hub.bots.los, hub.ledger)


def settle_payments() -> dict[str, Any]:
    """Apply the gateway's reports and settle in-doubt items; done when nothing is in flight."""
    from loanhub.flows import disburse

    hub = Hub.here()
    doubt = settle_doubts()  # an upload that went into doubt during this run
    settlement = disburse.collect_reports(hub.engine, hub.connectors.payments, hub.receipts)
    return {
        "settled": settlement.settled,
        "rejected": settlement.rejected,
        "warned": settlement.warned,
        "waiting": settlement.waiting,
        "disputed": settlement.disputed,
        "in_doubt": doubt,
    }


def payment_reports_listed() -> dict[str, str]:
    """The gateway's status reports there now (with their ``.ok``), name -> delivery. Looked
    at before ``settle_payments``: what it applies is in this listing or later, so a wait on
    reports not in it misses none."""
    return Hub.here().connectors.payments.report_deliveries()


def payment_reports_awaited(listed: dict[str, str]) -> dict[str, Any]:
    """What the deferred settlement waits for: a new report for a file still in flight
    (``SftpFileTrigger``'s folder, pattern and what ``listed`` already showed), and how
    many files are in flight."""
    from connectors.payments import OUTBOX, report_pattern
    from loanhub.flows import disburse

    msg_ids = disburse.msg_ids_in_flight(Hub.here().engine)
    pattern = report_pattern(msg_ids)
    wanted = re.compile(pattern)
    seen = {name: v for name, v in listed.items() if wanted.fullmatch(name)}
    return {"folder": OUTBOX, "pattern": pattern, "seen": seen, "in_flight": len(msg_ids)}


def reconcile_payments() -> dict[str, Any]:
    """Fails the run when the gateway accepted a tranche twice, paid one the hub recorded as
    rejected, or disagrees with the hub about any file of a tranche."""
    from loanhub.flows import disburse

    hub = Hub.here()
    report = disburse.reconcile(hub.engine, hub.connectors.payments, hub.receipts, hub.ledger)
    if report["paid_twice"] or report["mismatches"] or report["paid_but_rejected"]:
        raise RuntimeError(f"payments disagree with the gateway: {report}")
    return report


# -- repayment_sync, post_loan_monitoring, warning_notify ------------------------------------


def extract_awaited(business_date: date) -> dict[str, Any]:
    """What the deferred nightly wait waits for: the night's extract, whole once its name is
    there (the core renames it into place; it has no ``.ok``)."""
    from connectors.extracts import FOLDER, extract_name

    return {
        "folder": FOLDER,
        "pattern": re.escape(extract_name(business_date)),
        "require_ok": False,
    }


def fetch_and_ingest_extract(business_date: date) -> dict[str, Any] | None:
    """None while the night's extract is not there (what the sensor pokes)."""
    from loanhub.flows import repayments

    hub = Hub.here()
    report = repayments.ingest_extract(
        hub.engine,
        hub.connectors.extracts,
        hub.receipts,
        business_date,
        hub.settings.data_dir / "files" / "core",
        hub.settings.actor,
    )
    if report is None:
        return None
    state = report.state
    if state == "SKIPPED":  # taken before: what became of it then is what counts
        earlier = hub.receipts.state(repayments.SOURCE, report.file, report.sha256)
        state = earlier.value if earlier is not None else state
    return {
        "file": report.file,
        "sha256": report.sha256,
        "state": state,
        "inserted": report.inserted,
        "updated": report.updated,
        "rejected": report.check.get("rejected"),
    }


class ExtractRejected(RuntimeError):
    """The night's extract was refused as a whole: the run ends failed (the file is kept, its
    warning raised and mailed by then)."""


def extract_accepted(report: dict[str, Any]) -> dict[str, Any]:
    """``report``, or ``ExtractRejected`` when the night's file was rejected."""
    if report.get("state") == "REJECTED":
        raise ExtractRejected(f"{report['file']} rejected: {report.get('rejected')}")
    return report


def reconcile_extract(business_date: date, report: dict[str, Any] | None = None) -> dict[str, Any]:
    """After the load: the night's extract against the hub's active loans and its days past
    due; the totals (what the DAG task returns), each discrepancy raised as a warning."""
    from loanhub.flows import reconciliation

    if report is not None and report.get("state") == "REJECTED":
        return {"business_date": business_date.isoformat(), "skipped": "the file was rejected"}
    hub = Hub.here()
    recon = reconciliation.reconcile_night(
        hub.engine, business_date, hub.settings.reconciliation, hub.settings.actor
    )
    if recon is None:
        return {"business_date": business_date.isoformat(), "skipped": "no extract loaded"}
    return recon.totals()


def raise_warnings(as_of: date) -> int:
    from loanhub.flows import warnings

    hub = Hub.here()
    return warnings.raise_warnings(hub.engine, hub.settings.warnings, as_of)


def settle_mails() -> dict[str, int]:
    """Mails whose outcome is unknown (the connection lost after the end of DATA, before the
    server's 250): sent again under the same Message-ID, which receivers deduplicate by."""
    from loanhub.flows import warnings

    hub = Hub.here()
    return warnings.settle_mails(hub.ledger, hub.connectors.notifier, hub.settings.warnings)


def notify_warnings() -> dict[str, int]:
    """Settle the mails in doubt, then mail every new warning once and escalate the stale
    ones; one mail never stops the others, and the task fails only when a retry could send
    more (a transient failure, or a mail still in doubt)."""
    from loanhub.flows import warnings

    hub = Hub.here()
    settled = settle_mails()
    counts = warnings.notify(
        hub.engine, hub.connectors.notifier, hub.settings.warnings, utcnow(), hub.guard
    )
    return warnings.raise_if_pending({**counts, **{f"settled_{k}": v for k, v in settled.items()}})


def active_loan_applications() -> list[str]:
    from loanhub.flows import postloan

    return postloan.active_applications(Hub.here().engine)


def repull(source: str, application_nos: list[str]) -> dict[str, int]:
    """Bureau (reason 02) or social security again for active loans. One loan that fails,
    needs a person or is in doubt never stops the others; the task fails at the end only when
    a retry could do more (transient failures)."""
    from loanhub.flows import postloan

    hub = Hub.here()
    if source == "bureau":
        settle_bureau()
        outcome = postloan.repull_bureau(hub.engine, hub.bureau, application_nos)
    else:
        outcome = postloan.repull_social_security(
            hub.engine, hub.bots.social_security, hub.consents, application_nos
        )
    if outcome.errors:
        raise RuntimeError(f"{source}: {len(outcome.errors)} failed: {outcome.errors[:3]}")
    return outcome.counts()


def business_date(chosen: str | None, logical: datetime | None) -> date:
    """The night a repayment run works on: the form's date, else the bank's yesterday at the
    run's logical date (``BankClock.business_date``)."""
    return Hub.here().clock.business_date(chosen, logical)


def post_loan_warnings(application_nos: list[str], now: datetime | None = None) -> int:
    """What the re-pulled sources say, and post-loan consents about to lapse before their loan
    matures (``LOANHUB_WARNINGS__CONSENT_LAPSE_DAYS``, today in the bank's time zone)."""
    from loanhub.flows import postloan, warnings
    from loanhub.runtime.wiring import DEBTOR

    hub = Hub.here()
    today = hub.clock.today(now)
    raised = warnings.post_loan_warnings(hub.engine, application_nos, DEBTOR.name, today)
    return raised + postloan.consent_lapse_warnings(
        hub.engine,
        hub.consents,
        application_nos,
        hub.settings.warnings.consent_lapse_days,
        today,
        zone=hub.clock.zone,
    )


class ArchiveIncomplete(RuntimeError):
    """Some closed applications could not be archived this run (the next run tries again)."""


def archive_closed_cases() -> dict[str, int]:
    """Archive the case file of every closed application not archived yet, once each; fails
    (after trying all) when one could not be, so that the run shows red and says which."""
    from loanhub.flows import archive
    from loanhub.runtime.wiring import case_archive, case_file_renderer

    hub = Hub.here()
    store = case_archive(hub.settings, hub.engine)
    renderers: list[Callable[[Engine, str], bytes]] = []

    def render(engine: Engine, application_no: str) -> bytes:
        """The deployment's renderer, looked up when there is a case file to draw."""
        if not renderers:
            renderers.append(case_file_renderer(hub.settings))
        return renderers[0](engine, application_no)

    run = archive.archive_closed(hub.engine, store, render)
    log.info("archived %s case file(s): %s", len(run.archived), ", ".join(run.archived) or "-")
    if run.failed:
        failed = "; ".join(f"{k}: {v}" for k, v in sorted(run.failed.items()))
        raise ArchiveIncomplete(f"{len(run.failed)} case file(s) not archived: {failed}")
    return run.summary()


def purge_retention(dry_run: bool = False) -> dict[str, int]:
    """Purge what is older than its retention (the archive excepted), each kind audited."""
    from loanhub.flows import retention

    hub = Hub.here()
    done = retention.purge(
        hub.engine,
        hub.settings.retention_areas,
        hub.settings.retention,
        actor=hub.settings.actor,
        dry_run=dry_run,
    )
    for purge in done:
        log.info("%s", purge.line())
    return {purge.kind: purge.count for purge in done}


def verify_audit_chain() -> dict[str, Any]:
    """The daily walk of the whole audit chain (``hub_housekeeping``): recorded for
    ``/metrics`` and the chain alert, an intact head anchored; a broken chain fails the task
    (its failure notice is mailed) with the first broken link."""
    from loanhub.platform import audit, audit_checks

    hub = Hub.here()
    report, head = audit_checks.walk(hub.engine, hub.audit_keyring, hub.settings.actor)
    if not report.ok:
        raise ContractError(
            f"audit chain broken at event {report.broken_seq}: {report.reason} "
            f"({report.checked} events verified before it)"
        )
    audit.anchor(hub.engine, ring=hub.audit_keyring, only_if_moved=True)
    log.info("audit chain intact: %d events, head %s", report.checked, head)
    return {"checked": report.checked, "anchors": report.anchors}


def anchor_audit(only_if_moved: bool = False) -> dict[str, Any]:
    """Anchor the audit chain's head outside the store (``LOANHUB_AUDIT__ANCHOR_DIR``): after
    every loanhub task when the head moved, and hourly (``audit_anchor``). What verify then
    holds the chain to: anything below an anchor deleted or rewritten shows."""
    from loanhub.platform import audit

    hub = Hub.here()
    made = audit.anchor(hub.engine, ring=hub.audit_keyring, only_if_moved=only_if_moved)
    if made is None:
        return {"anchored": 0}
    log.info("audit chain anchored at event %d in %s", made.seq, made.path)
    return {"anchored": 1, "seq": made.seq}
