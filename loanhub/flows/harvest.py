"""Harvest: what an approval needs about an applicant, from every legacy system, into the
canonical store, then condensed into an applicant profile.

Each source is a separate step so that the DAG can run it in its own pool (no system sees more
concurrency than it tolerates) and retry it alone. A step stores what the source said, or
records that it had nothing to say (a thin bureau file, no bank relationship, no insured
history): both are answers. Refused records are quarantined with their reason; the rest is
kept. Steps are idempotent: the bureau query is a work item, and facts are stored once by
business key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from bots.ss.bot import SocialSecurityBot
from connectors.bureau import OPERATIONS, BureauConnector, BureauReport, SubjectKind
from connectors.core import CoreConnector
from connectors.tax import TaxExchange, TaxQuery, parse_answer
from kernel.calls import call_subject
from kernel.failures import (
    BusinessAnswer,
    ContractError,
    LegacyError,
    NeedsHuman,
    OutcomeUnknown,
)
from loanhub.platform.canonical import sha256_hex
from loanhub.platform.consents import ConsentBook, ConsentMissing
from loanhub.platform.facts import store_mapped
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import ConflictingWorkItem, WorkItemBusy, WorkItemLedger
from loanhub.platform.masking import known_names
from loanhub.platform.quarantine import quarantine_refused, release_stored
from loanhub.platform.receipts import FileReceiptBook
from mappings.engine import Mapping, MappingResult
from schemas.hub import FileState, WorkItem, WorkItemState
from schemas.party import PartyKind
from schemas.tables import (
    application,
    party,
)
from schemas.types import utcnow

log = logging.getLogger(__name__)
REPORT_VALIDITY = timedelta(days=30)
BUREAU_KEEPS = timedelta(days=7)  # RetrieveReport answers under a reference for 7 days
BUREAU_QUERY = "bureau_query"
SOURCES = ("bureau", "core", "tax", "social_security")


@dataclass(frozen=True)
class Guarantor:
    """The party guaranteeing an application: its bureau report is pulled for reason 03."""

    id_number: str
    name: str
    kind: PartyKind = PartyKind.PERSON


@dataclass(frozen=True)
class Applicant:
    application_no: str
    id_number: str
    name: str
    requested_amount: Any
    term_months: int
    kind: PartyKind = PartyKind.PERSON
    guarantor: Guarantor | None = None

    @property
    def is_enterprise(self) -> bool:
        return self.kind is PartyKind.ENTERPRISE


SUBJECT_KIND: dict[PartyKind, SubjectKind] = {
    PartyKind.PERSON: "personal",
    PartyKind.ENTERPRISE: "enterprise",
}
"""Which bureau operation reports on a party, and so which mapping reads the report."""
BUREAU_MAPPING: dict[PartyKind, str] = {
    PartyKind.PERSON: "bureau_personal",
    PartyKind.ENTERPRISE: "bureau_enterprise",
}


def applicants(engine: Engine, application_nos: list[str] | None = None) -> list[Applicant]:
    """The applications to harvest: the named ones, or every one still received."""
    surety = aliased(party)
    query = (
        select(
            application.c.application_no,
            application.c.party_id_number,
            party.c.name,
            application.c.requested_amount,
            application.c.term_months,
            party.c.kind,
            surety.c.id_number,
            surety.c.name,
            surety.c.kind,
        )
        .join(party, party.c.id_number == application.c.party_id_number)
        .outerjoin(surety, surety.c.id_number == application.c.guarantor_id_number)
    )
    if application_nos:
        query = query.where(application.c.application_no.in_(application_nos))
    else:
        query = query.where(application.c.status == "RECEIVED")
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(application.c.application_no)).all()
    found = [
        Applicant(
            *row[:5],
            kind=PartyKind(row[5]),
            guarantor=None if row[6] is None else Guarantor(row[6], row[7], PartyKind(row[8])),
        )
        for row in rows
    ]
    known_names.add(*(a.name for a in found), *(a.guarantor.name for a in found if a.guarantor))
    return found


def store_source(
    engine: Engine,
    mapping_name: str,
    payload: Any,
    *,
    fetched_at: Any,
    raw_hash: str,
    source_ref: str,
    **params: Any,
) -> dict[str, int]:
    mapping = Mapping.load(mapping_name)
    result: MappingResult = mapping.map(
        payload, fetched_at=fetched_at, raw_payload_hash=raw_hash, params=params
    )
    with engine.begin() as conn:
        new = store_mapped(conn, mapping, result)
        release_stored(  # taken again, and stored this time: out of the quarantine
            conn,
            mapping.source_system,
            source_ref,
            [f"{r.name}#{r.index}" for records in result.records.values() for r in records],
            mapping_version=mapping.version,
            actor="loanhub",
        )
        if result.refused:
            quarantine_refused(
                conn,
                result.refused,
                source_system=mapping.source_system,
                source_ref=source_ref,
                mapping_version=mapping.version,
            )
            # records, not refusals (a record may break several rules): records in =
            # stored + quarantined, as a file's receipt counts them
            new["quarantined"] = result.refused_records
    return new


class SourceStep:
    """One legacy system's part of the harvest, split in two: ``fetch`` talks to the system
    (its latency is most of the time), ``store`` maps and writes what it said. ``run_batch``
    overlaps them, so the next call is already on the wire while the last answer is stored,
    and a batch costs the system's latency, not latency plus our own work."""

    source: str

    def fetch(self, a: Applicant) -> Any:
        raise NotImplementedError

    def store(self, a: Applicant, answer: Any) -> str:
        raise NotImplementedError

    def run(self, a: Applicant) -> str:
        return self.store(a, self.fetch(a))


def request_ref(item: WorkItem) -> str:
    """The bureau request reference of one attempt at a ``bureau_query`` work item.

    Recomputable from the item alone, so that after a crash or a lost answer the resolver asks
    ``RetrieveReport`` under the very reference that was sent; new for every attempt (an item
    FAILED(transient) and claimed again counts one more), so a retry is never a
    ``DuplicateRequest``; and salted with the item's id and creation time, so that a store
    rebuilt from scratch (the same application, subject and reason, attempt 1) never reuses a
    reference the bureau still keeps. 2 + 24 + 1 + digits of ``attempts``: 32 characters at most
    up to attempt 99999, all ``[A-Za-z0-9-]``."""
    created = item.created_at
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    seed = f"{item.kind}|{item.business_key}|{item.id}|{created.timestamp():.6f}"
    return f"LH{hashlib.sha256(seed.encode()).hexdigest()[:24]}-{item.attempts}"


@dataclass(frozen=True)
class BureauInquiries:
    """The bureau as the hub may query it. Every query is a hard inquiry on the subject's
    report, so none is sent without the subject's recorded consent for that reason, and none
    twice for the same application, subject and reason: a report younger than 30 days is
    reused, and a work item guards the call so that concurrent runs query once (the others
    wait for the first one's answer).

    Each query carries the reference of its work item's attempt (``request_ref``). A query
    whose answer was lost leaves the item IN_DOUBT; ``settle_bureau_inquiries`` reads the
    answer back under that reference (no second hard inquiry) or, when the bureau never got
    it, frees the item for one more query under a new reference."""

    bureau: BureauConnector
    consents: ConsentBook
    guard: LedgerGuard

    def personal_report(
        self, application_no: str, id_number: str, name: str, reason: str = "01"
    ) -> BureauReport:
        return self.report("personal", application_no, id_number, name, reason)

    def report(
        self, kind: SubjectKind, application_no: str, subject: str, name: str, reason: str
    ) -> BureauReport:
        subject = self.bureau.checked(kind, subject, reason)  # a bad one costs no inquiry
        consent_ref = self.consents.require(subject, "BUREAU", reason)
        key = f"{application_no}:{subject}:{reason}"

        def ask(claimed: WorkItem) -> dict[str, Any]:
            ref = request_ref(claimed)
            try:
                return self.bureau.query(kind, subject, name, reason, consent_ref, ref).summary()
            except ContractError as exc:
                if not (exc.code or "").startswith("Client.DuplicateRequest"):
                    raise
                # the bureau has an answer under this very attempt's reference: it is ours
                kept = self.bureau.retrieve(ref, subject, reason)
                if kept is None:
                    raise
                return kept.summary()

        summary = self.guard.once_with(
            BUREAU_QUERY,
            key,
            {
                "application_no": application_no,
                "subject": subject,
                "reason": reason,
                "operation": OPERATIONS[kind].name,
            },
            ask,
            max_age=REPORT_VALIDITY,
        )
        return self.bureau.kept(subject, reason, summary)


def settle_bureau_inquiries(ledger: WorkItemLedger, bureau: BureauConnector) -> dict[str, int]:
    """Settle every IN_DOUBT bureau query by reading, never by asking again: ``RetrieveReport``
    under the reference its last attempt was sent with.

    - found: the query reached the bureau and the inquiry is on file. The item is DONE with the
      report's summary (its raw bytes are in the evidence store, by hash), as if the answer had
      arrived; a thin file is an answer too.
    - ``Client.RequestNotFound``: the bureau never received that reference (nothing to retrieve,
      nothing recorded). The item is FAILED(transient): the next run queries once, under the
      next attempt's reference.
    - the bureau busy or unreachable: the item stays IN_DOUBT, for the next run (the bureau
      keeps answers 7 days; runs are daily); a contract failure (an answer about another
      subject) stays IN_DOUBT for a person, with the reason logged.
    - in doubt longer than the bureau keeps a reference (7 days): ``RequestNotFound`` would no
      longer prove the query never arrived, so no ``RetrieveReport`` is sent. Within the 30
      days a report is valid the item stays IN_DOUBT for a person (a query now might be a
      second inquiry in 30 days); past them a new inquiry is due anyway, so it is
      FAILED(transient) (counted ``not_received``) and queried once, under a new reference.

    Runs at the start of every harvest and post-loan run, and by hand from the CLI. Returns
    counts: ``done``, ``not_received``, ``left`` (still in doubt)."""
    counts = {"done": 0, "not_received": 0, "left": 0}
    for item in ledger.items(WorkItemState.IN_DOUBT, BUREAU_QUERY):
        try:
            seen = read_inquiry(bureau, item)
        except LegacyError as exc:
            log.warning("%s %s stays in doubt: %s", BUREAU_QUERY, item.business_key, exc)
            counts["left"] += 1
            continue
        if seen.found == "left":
            log.warning("%s %s %s", BUREAU_QUERY, item.business_key, seen.evidence)
            counts["left"] += 1
            continue
        if seen.found == "done":
            assert seen.report is not None
            ledger.resolve_in_doubt(
                item, happened=True, result=seen.report.summary(), evidence=seen.evidence
            )
            counts["done"] += 1
            continue
        ledger.resolve_in_doubt(item, happened=False, evidence=seen.evidence)
        counts["not_received"] += 1
    if any(counts.values()):
        log.info("bureau inquiries settled: %s", counts)
    return counts


@dataclass(frozen=True)
class InquiryReading:
    """What the bureau says of one inquiry in doubt: ``found`` is ``done`` (its answer is on
    file: ``report``), ``not_received`` (it never got the query, or a new inquiry is due
    anyway) or ``left`` (nothing can be known now: it stays in doubt for a person);
    ``evidence`` says it in words."""

    found: str
    evidence: str
    report: BureauReport | None = None


def read_inquiry(bureau: BureauConnector, item: WorkItem) -> InquiryReading:
    """Read the bureau about one IN_DOUBT inquiry, never by asking again: ``RetrieveReport``
    under the reference its last attempt was sent with (a read, no hard inquiry), and only
    while the bureau keeps references. ``LegacyError`` when the bureau cannot be read."""
    ref = request_ref(item)
    subject, reason = item.payload["subject"], item.payload["reason"]
    since = item.updated_at  # when it went in doubt: the query, if any, came before
    if utcnow() - since > REPORT_VALIDITY:
        return InquiryReading(
            "not_received",
            f"in doubt since {since:%Y-%m-%d}, past the bureau's {BUREAU_KEEPS.days} days "
            f"under {ref} and the {REPORT_VALIDITY.days} days a report is valid: not "
            "retrieved; the next run queries once, a new inquiry",
        )
    if utcnow() - since > BUREAU_KEEPS:
        return InquiryReading(
            "left",
            f"stays in doubt for a person: the bureau no longer keeps {ref}, and a query "
            f"before {since + REPORT_VALIDITY:%Y-%m-%d} could be a second inquiry within "
            f"{REPORT_VALIDITY.days} days",
        )
    with call_subject(item.payload.get("application_no")):
        report = bureau.retrieve(ref, subject, reason)
    if report is None:
        return InquiryReading(
            "not_received",
            f"RetrieveReport {ref}: Client.RequestNotFound, the bureau never received this "
            "query; the next run sends it once under a new reference",
        )
    what = "thin file" if report.thin_file else f"report {report.report_no}"
    return InquiryReading(
        "done", f"RetrieveReport {ref}: {what}, raw sha256 {report.raw_sha256}", report
    )


@dataclass(frozen=True)
class BureauAnswer:
    """What the bureau step fetched for one application: the applicant's report (reason 01)
    and, when the application names a guarantor, the guarantor's (reason 03), or why not."""

    report: BureauReport
    guarantor: BureauReport | None = None
    guarantor_refused: str | None = None


@dataclass(frozen=True)
class BureauStep(SourceStep):
    """The applicant's report for loan approval (reason 01: the personal report for a person,
    the enterprise report for a company), and the guarantor's for guarantee review (reason 03)
    when there is one; each once per application, subject and reason.

    A guarantor who cannot be queried (no consent for 03, a bad identifier) does not cost the
    applicant's report: it is stored, the guarantor's report is missing, and the rules refer
    the application to a person."""

    engine: Engine
    bureau: BureauInquiries
    source = "bureau"

    def fetch(self, a: Applicant) -> BureauAnswer:
        kind = SUBJECT_KIND[a.kind]
        report = self.bureau.report(kind, a.application_no, a.id_number, a.name, "01")
        g = a.guarantor
        if g is None:
            return BureauAnswer(report)
        try:
            surety = self.bureau.report(
                SUBJECT_KIND[g.kind], a.application_no, g.id_number, g.name, "03"
            )
        except (BusinessAnswer, ContractError, NeedsHuman) as exc:
            log.warning("bureau %s guarantor not queried: %s", a.application_no, exc)
            return BureauAnswer(report, guarantor_refused=str(exc))
        return BureauAnswer(report, surety)

    def store(self, a: Applicant, answer: BureauAnswer) -> str:
        notes = [self._store(a, a.kind, answer.report, "01")]
        if answer.guarantor is not None and a.guarantor is not None:
            notes.append("guarantor " + self._store(a, a.guarantor.kind, answer.guarantor, "03"))
        elif answer.guarantor_refused:
            notes.append(f"guarantor refused: {answer.guarantor_refused}")
        return "; ".join(notes)

    def _store(self, a: Applicant, kind: PartyKind, report: BureauReport, reason: str) -> str:
        if report.thin_file or report.raw is None:
            return "thin file"
        new = store_source(
            self.engine,
            BUREAU_MAPPING[kind],
            report.raw,
            fetched_at=report.fetched_at,
            raw_hash=report.raw_sha256 or sha256_hex(report.raw),
            source_ref=f"bureau:{report.report_no}",
            application_no=a.application_no,
            reason=reason,
        )
        return f"report {report.report_no}: {sum(new.values())} new facts"


@dataclass(frozen=True)
class CoreStep(SourceStep):
    """Customer, accounts and twelve months of summaries, if the applicant banks with us (a
    person by resident ID, a company by its USCC); not a call without the applicant's CORE
    consent for ``reason``."""

    engine: Engine
    core: CoreConnector
    today: date
    consents: ConsentBook
    reason: str = "01"
    source = "core"

    def fetch(self, a: Applicant) -> list[tuple[str, Any, str, dict[str, str]]] | None:
        self.consents.require(a.id_number, "CORE", self.reason)  # refused: nothing is asked
        try:
            customer = self.core.customer(a.id_number, enterprise=a.is_enterprise)
        except BusinessAnswer:
            return None
        customer_no = customer.body.findtext(".//{*}customerNo")
        accounts = self.core.accounts(customer_no)
        answers = [
            ("core_customer", customer, "core:customer", {"id_number": a.id_number}),
            (
                "core_accounts",
                accounts,
                f"core:accounts:{customer_no}",
                {"customer_no": customer_no},
            ),
        ]
        first = (self.today.replace(day=1) - timedelta(days=365)).strftime("%Y%m")
        last = self.today.strftime("%Y%m")
        for account_no in accounts.body.xpath(".//*[local-name()='accountNo']/text()"):
            months = self.core.monthly_summary(account_no, first, last)
            answers.append(
                ("core_monthly", months, f"core:monthly:{account_no}", {"account_no": account_no})
            )
        return answers

    def store(self, a: Applicant, answers: Any) -> str:
        if answers is None:
            return "not a customer"
        new = 0
        for mapping_name, answer, source_ref, params in answers:
            stored = store_source(
                self.engine,
                mapping_name,
                answer.raw,
                fetched_at=answer.fetched_at,
                raw_hash=answer.sha256,
                source_ref=source_ref,
                **params,
            )
            new += sum(stored.values())
        return f"{len(answers) - 2} accounts: {new} new facts"


@dataclass(frozen=True)
class SocialSecurityStep(SourceStep):
    """The contribution history from the portal, by the bot; not a search without the
    applicant's SOCIAL_SECURITY consent for ``reason``."""

    engine: Engine
    bot: SocialSecurityBot
    consents: ConsentBook
    reason: str = "01"
    source = "social_security"

    def fetch(self, a: Applicant) -> Any:
        if a.is_enterprise:  # the portal holds insured persons; a company has no history
            return None
        self.consents.require(a.id_number, "SOCIAL_SECURITY", self.reason)
        return self.bot.fetch_history(a.id_number, a.name)

    def store(self, a: Applicant, history: Any) -> str:
        if history is None:
            return "a company: no insured history of its own"
        if not history.found:
            return "no insured history"
        new = store_source(
            self.engine,
            "ss_history",
            history.payload,
            fetched_at=history.fetched_at,
            raw_hash=history.raw_sha256,
            source_ref=f"ss:{history.source}",
            id_number=a.id_number,
        )
        refused = new.get("quarantined", 0)
        return f"{history.months} months from the {history.source}, {refused} quarantined"


@dataclass
class BatchOutcome:
    """What a batch came to, applicant by applicant; only ``errors`` are worth a retry."""

    ok: int = 0
    refused: int = 0  # an answer, a refusal, or a person's turn: recorded, not retried
    in_doubt: int = 0  # sent, answer lost: the item is IN_DOUBT, settled by reading, not resent
    conflicts: int = 0  # one business key, two different effects: a person's turn
    errors: list[str] = field(default_factory=list)  # transient or unforeseen: retried

    def counts(self) -> dict[str, int]:
        """ok, refused and failed always; in_doubt and conflicts when there are any (the shape
        every harvest task has returned so far stays the same on an ordinary day)."""
        counts = {"ok": self.ok, "refused": self.refused, "failed": len(self.errors)}
        extra = {"in_doubt": self.in_doubt, "conflicts": self.conflicts}
        return {**counts, **{k: v for k, v in extra.items() if v}}

    def add(self, other: BatchOutcome) -> BatchOutcome:
        self.ok += other.ok
        self.refused += other.refused
        self.in_doubt += other.in_doubt
        self.conflicts += other.conflicts
        self.errors.extend(other.errors)
        return self


def run_batch(step: SourceStep, batch: list[Applicant]) -> BatchOutcome:
    """Every applicant of the batch through ``step``, one call to the system at a time (the
    pool's promise), each answer stored on a second thread while the next call waits on the
    system. A failing applicant does not stop the others."""
    outcome = BatchOutcome()

    def attempt(a: Applicant, call: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            with call_subject(a.application_no):  # each call journaled as made for it
                return True, call()
        except (BusinessAnswer, ContractError, NeedsHuman) as exc:
            # the profile shows the source as missing and the rules refer it to a person
            log.warning("%s %s not harvested: %s", step.source, a.application_no, exc)
            outcome.refused += 1
        except OutcomeUnknown as exc:  # its item is IN_DOUBT: the resolver reads it back
            log.warning("%s %s in doubt: %s", step.source, a.application_no, exc)
            outcome.in_doubt += 1
        except ConflictingWorkItem as exc:  # retrying cannot help: a person must look
            log.error("%s %s conflicts: %s", step.source, a.application_no, exc)
            outcome.conflicts += 1
        except Exception as exc:
            log.warning("%s %s failed: %s", step.source, a.application_no, exc)
            outcome.errors.append(f"{a.application_no}: {type(exc).__name__}: {exc}")
        return False, None

    with ThreadPoolExecutor(1, thread_name_prefix=f"store-{step.source}") as storing:
        stored: list[tuple[Applicant, Future[str]]] = []
        for a in batch:
            fetched, answer = attempt(a, partial(step.fetch, a))
            if fetched:
                stored.append((a, storing.submit(step.store, a, answer)))
        for a, future in stored:
            done, note = attempt(a, future.result)
            if done:
                log.info("%s %s: %s", step.source, a.application_no, note)
                outcome.ok += 1
    return outcome


def tax_request_seq(
    ledger: WorkItemLedger, day: date, batch: list[str], purpose: str = "harvest", start: int = 1
) -> int:
    """The request's sequence number for the day, unique per batch and purpose: the authority
    answers a file name once, so two batches (or a harvest and a post-loan re-pull of the same
    applications) must never share one, and a retried batch must get its own back. Each
    number is a work item keyed by day and number, its payload the batch and purpose."""
    payload = {"applications": sorted(batch), "purpose": purpose}
    for seq in range(start, 1000):
        key = f"{day:%Y%m%d}:{seq:03d}"
        try:
            item = ledger.claim("tax_request", key, payload)
        except ConflictingWorkItem:
            continue  # another batch's number
        except WorkItemBusy:
            return seq  # this batch, claimed by a worker right now
        if item.state is WorkItemState.IN_PROGRESS and item.owner == ledger.owner:
            ledger.complete(item, {"seq": seq})
        return seq
    raise RuntimeError(f"more than 999 tax requests on {day}")


def tax_queries(
    consents: ConsentBook, batch: list[Applicant], suffix: str = "", reason: str = "01"
) -> list[TaxQuery]:
    """One query per applicant, each with its TAX consent reference for ``reason`` (no
    consent, no query), subject type ``E`` for a company and ``P`` for a person, so a mixed
    batch is one valid file. An applicant without consent is refused alone (audited
    ``consent.refused``; the profile then shows tax as missing and the rules refer it): the
    file is built from the others. The request id is the application number, plus ``suffix``
    for a re-pull: each answer is then a row of its own, and a later rating can be compared
    with the one at origination."""
    queries = []
    for a in batch:
        try:
            consent_ref = consents.require(a.id_number, "TAX", reason)
        except ConsentMissing as exc:
            log.warning("tax %s not asked: %s", a.application_no, exc)
            continue
        queries.append(
            TaxQuery(
                request_id=a.application_no + suffix,
                subject_type="E" if a.is_enterprise else "P",
                id_or_uscc=a.id_number,
                name=a.name,
                consent_ref=consent_ref,
            )
        )
    return queries


def collect_tax(
    engine: Engine,
    tax: TaxExchange,
    receipts: FileReceiptBook,
    request: str,
    batch: list[Applicant],
    suffix: str = "",
) -> bool:
    """One look for the authority's answer; True once it is stored.

    Every delivery taken is receipted (name and SHA-256). A truncated answer is refused: kept
    locally, its receipt REJECTED with the reason, and the error raised; that very delivery is
    then waited past until the authority delivers it again, whole."""
    taken = tax.take_answer(request)
    if taken is None:
        return False
    receipts.record(tax.system, taken.name, taken.sha256, taken.size)
    if receipts.state(tax.system, taken.name, taken.sha256) is FileState.REJECTED:
        return False  # this very file was refused before: wait for its re-delivery
    try:
        rows = parse_answer(taken.path.read_bytes())
    except ContractError as exc:
        receipts.mark(
            tax.system,
            taken.name,
            taken.sha256,
            FileState.REJECTED,
            detail=str(exc),
            kept_at=str(taken.path),
        )
        raise
    stored = store_source(
        engine,
        "tax_answer",
        rows,
        fetched_at=utcnow(),
        raw_hash=taken.sha256,
        source_ref=f"tax:{taken.name}",
        subjects={a.application_no + suffix: a.id_number for a in batch},
    )
    quarantined = stored.get("quarantined", 0)
    receipts.mark(
        tax.system,
        taken.name,
        taken.sha256,
        FileState.PARTIAL if quarantined else FileState.LOADED,
        kept_at=str(taken.path),
        records=(max(len(rows) - quarantined, 0), quarantined),
    )
    return True
