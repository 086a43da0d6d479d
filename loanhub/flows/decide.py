"""Decide: the rules on each profile, credit ops on the referrals, the result into the LOS.

Every decision names who decided it (a user, or ``rule:<id>``) and the rule set version that
decided or referred it. A referral becomes a decision only through a person who is not its
maker (maker != checker) and who is an approver of the amount's tier. Posting into the LOS is
the bot's once-only submission; its reference is stored with the decision.

A submission nobody heard the end of (a 504 read back in vain, a worker killed after its
submit) is settled by the LOS's status page at the start of the next run
(``settle_los_decisions``), never by submitting again; and one application that fails,
conflicts, needs a person or is in doubt never stops the others (``post_decisions``).

Rounds: an application returned for more documents and re-opened by intake is in its next
decision round (``application.round``). Each round has its own profile (built after the
re-opening), its own decision (one per application and round) and its own posting work item
(``posting_key``); "the decision" of an application is the one of its latest round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, exists, select, update

from bots.los.bot import DecisionReceipt, LosBot, StatusReading, decision_fields
from bots.los.pages import Decision as LosDecision
from bots.los.pages import Recorded
from kernel.calls import call_subject
from kernel.failures import (
    BusinessAnswer,
    ContractError,
    LegacyError,
    NeedsHuman,
    OutcomeUnknown,
    TransientError,
)
from loanhub.flows.profile import current_round, newest_profile
from loanhub.flows.rules import RuleSet, Verdict
from loanhub.platform import audit, blacklist
from loanhub.platform.db import insert_or_ignore
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import ConflictingWorkItem, WorkItemError, WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.base import Lineage
from schemas.hub import WorkItem, WorkItemState
from schemas.lending import Decision, DecisionOutcome
from schemas.party import PartyKind
from schemas.profile import ApplicantProfile
from schemas.tables import applicant_profile, application, decision, fact_row
from schemas.types import utcnow

STATUS_AFTER = {"APPROVE": "APPROVED", "REJECT": "REJECTED", "RETURN": "RETURNED"}
KIND = "los_decision"
ROUND_MARK = "#round-"
QUIET = timedelta(seconds=120)
"""How long after the last possible send a status page showing nothing is believed: a gateway
may answer 504 while the LOS behind it is still committing."""

log = logging.getLogger(__name__)


class ReviewRefused(ValueError):
    """An answer to a referral that the four-eyes rules do not allow."""


@dataclass(frozen=True)
class Referral:
    """A case for credit ops: what the approval form shows, and the amount tier whose
    approvers (``RuleSet.approvers``, never the maker) may answer it."""

    application_no: str
    subject: str
    body: str
    score: int
    rate: str
    tier: int = 0
    round: int = 1  # the decision round it was referred in: an answer counts for that round


def posting_key(application_no: str, round: int = 1) -> str:
    """The business key of a round's posting into the LOS: the application number for round
    1 (as before rounds existed, so items already in a ledger keep their meaning), then
    ``<number>#round-<n>``: each round posted once, and never in place of another."""
    return application_no if round == 1 else f"{application_no}{ROUND_MARK}{round}"


def posting_of(key: str) -> tuple[str, int]:
    """The application number and round a posting's business key names."""
    number, mark, round = key.partition(ROUND_MARK)
    return (number, int(round)) if mark else (number, 1)


def latest_profile(
    engine: Engine, application_no: str, round: int | None = None
) -> ApplicantProfile | None:
    """The newest profile of the round (the current one by default), with the blacklist as it
    is now: a party listed after the harvest is rejected all the same, and one lifted since is
    not. None while the round has no profile yet: a re-opened application is decided on what
    its new harvest found, never on the round before's profile."""
    with engine.connect() as conn:
        if round is None:
            round = current_round(conn, application_no)
        row = newest_profile(conn, application_no, round)
        if row is None:
            return None
        listed = blacklist.is_listed(conn, row.party_id_number)
    values = dict(row._mapping)
    lineage = {k: values.pop(k) for k in Lineage.model_fields}
    values.pop("id")
    values["blacklisted"] = listed
    return ApplicantProfile.model_validate({**values, "lineage": lineage})


def decided(engine: Engine, application_no: str, round: int | None = None) -> dict[str, Any] | None:
    """The application's decision of ``round``; by default of its latest decided round."""
    query = select(decision).where(decision.c.application_no == application_no)
    if round is not None:
        query = query.where(decision.c.round == round)
    with engine.connect() as conn:
        row = conn.execute(query.order_by(decision.c.round.desc())).first()
    return None if row is None else dict(row._mapping)


def record(
    engine: Engine,
    profile: ApplicantProfile,
    outcome: str,
    *,
    decided_by: str,
    rules: RuleSet,
    reasons: str,
    rate: Decimal | None,
    comment: str | None = None,
) -> Decision:
    """Store a decision once per application and round, the round of the profile it was made
    on (a re-run, or a concurrent run, records nothing new: the first decision stands) and
    audit it. A profile of a round the application is no longer in is refused."""
    if (existing := _stored(engine, profile.application_no, profile.round)) is not None:
        return existing
    approve = outcome == "APPROVE"
    made = Decision(
        application_no=profile.application_no,
        round=profile.round,
        outcome=DecisionOutcome(outcome),
        approved_amount=profile.requested_amount if approve else None,
        term_months=profile.term_months if approve else None,
        annual_rate=rate if approve else None,
        comment=comment,
        decided_by=decided_by,
        decided_at=utcnow(),
        rule_set_version=rules.version,
        reasons=mask_text(reasons)[:500],
        score=rules.score(profile),
        lineage=Lineage(
            source_system="hub",
            fetched_at=utcnow(),
            mapping_version=rules.version,
            raw_payload_hash=profile.inputs_hash,
        ),
    )
    with engine.begin() as conn:
        if (now := current_round(conn, profile.application_no)) != profile.round:
            raise ReviewRefused(
                f"{profile.application_no} is in decision round {now}: a decision on its round "
                f"{profile.round} profile is not recorded"
            )
        inserted = conn.execute(
            insert_or_ignore(conn, decision).values(fact_row(made)).returning(decision.c.id)
        ).scalar_one_or_none()
        if inserted is not None:
            conn.execute(
                update(application)
                .where(application.c.application_no == profile.application_no)
                .values(status=STATUS_AFTER[outcome])
            )
            audit.append(
                conn,
                actor=decided_by,
                action="decision.recorded",
                subject=profile.application_no,
                after={
                    "outcome": outcome,
                    "rules": rules.version,
                    "by": decided_by,
                    "round": profile.round,
                    "score": made.score,
                },
            )
    if inserted is None:  # another run decided it first: that decision stands
        return _stored(engine, profile.application_no, profile.round)  # type: ignore[return-value]
    return made


def _stored(engine: Engine, application_no: str, round: int) -> Decision | None:
    existing = decided(engine, application_no, round)
    if existing is None:
        return None
    values = {k: existing[k] for k in Decision.model_fields if k in existing}
    lineage = {k: existing[k] for k in Lineage.model_fields}
    return Decision.model_validate({**values, "lineage": lineage})


def undecided(engine: Engine) -> list[str]:
    """Applications with a profile of a round that has no decision yet: a re-opened one once
    its new harvest is profiled (a profile is built for the application's current round, and
    every round before it was decided: only a posted return re-opens an application)."""
    p = applicant_profile
    decided_round = exists().where(
        decision.c.application_no == p.c.application_no, decision.c.round == p.c.round
    )
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(p.c.application_no)
                .where(~decided_round)
                .distinct()
                .order_by(p.c.application_no)
            ).scalars()
        )


def unposted(engine: Engine) -> list[str]:
    """Decisions the LOS has not received yet (of any round: at most one per application,
    since only a return the LOS took re-opens an application)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(decision.c.application_no)
                .where(decision.c.los_reference.is_(None))
                .distinct()
                .order_by(decision.c.application_no)
            ).scalars()
        )


def evaluate(engine: Engine, rules: RuleSet, application_nos: list[str]) -> list[Referral]:
    """Decide what the rules may decide; return the rest as referrals for credit ops."""
    referrals = []
    for number in application_nos:
        profile = latest_profile(engine, number)  # of the current round
        if profile is None or decided(engine, number, profile.round) is not None:
            continue
        verdict = rules.evaluate(profile)
        if verdict.outcome == "REFER":
            referrals.append(referral(profile, verdict))
            _audit_referral(engine, profile, verdict, rules)
            continue
        record(
            engine,
            profile,
            verdict.outcome,
            decided_by=verdict.decided_by,
            rules=rules,
            reasons="; ".join(verdict.reasons),
            rate=verdict.annual_rate,
        )
    return referrals


def _audit_referral(
    engine: Engine, profile: ApplicantProfile, verdict: Verdict, rules: RuleSet
) -> None:
    """A referral is a step of the case too: when it was referred, on what score and why, and
    whose tier answers it (the maker is left out when the review is asked). Referred again
    by a later run while nobody answered, it is audited again: each time it was asked."""
    with engine.begin() as conn:
        audit.append(
            conn,
            actor="loanhub",
            action="decision.referred",
            subject=profile.application_no,
            after={
                "round": profile.round,
                "score": verdict.score,
                "tier": verdict.tier + 1,
                "approvers": list(verdict.approvers),
                "reasons": list(verdict.reasons),
                "rules": rules.version,
            },
        )


def _party_rows(profile: ApplicantProfile) -> list[tuple[str, str]]:
    """A person's social-security history, or a company's own facts (a company has none at
    the portal: showing "0 months paid" would read as a weakness it does not have)."""
    if profile.party_kind is not PartyKind.ENTERPRISE:
        return [
            (
                "social security",
                f"{profile.ss_months_paid} months paid, {profile.ss_months_owed} owed",
            )
        ]
    exposure, years = profile.guarantee_exposure_pct, profile.years_established
    return [
        (
            "企业 company",
            f"established {'-' if years is None else years} years, "
            f"registered capital {_money(profile.registered_capital)}",
        ),
        (
            "guarantees given",
            f"{_money(profile.guarantees_given)}"
            + (f" ({exposure}% of registered capital)" if exposure is not None else ""),
        ),
    ]


def _guarantor_rows(profile: ApplicantProfile) -> list[tuple[str, str]]:
    if profile.guarantor_id_number is None:
        return []
    return [
        (
            "担保人 guarantor",
            f"{mask_text(profile.guarantor_id_number)}: bureau score "
            f"{profile.guarantor_score or '-'}, overdue level "
            f"M{profile.guarantor_overdue_months or 0}, public records "
            f"{profile.guarantor_public_records or 0}",
        )
    ]


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f} CNY"


def referral(profile: ApplicantProfile, verdict: Verdict) -> Referral:
    """The masked markdown summary credit ops decide on."""
    rows = [
        ("申请编号 application", profile.application_no),
        ("applicant", mask_text(profile.party_id_number)),
        ("requested", f"{profile.requested_amount:,.2f} CNY, {profile.term_months} months"),
        ("score", f"{verdict.score} / 100 (rate offered {verdict.annual_rate}%)"),
        (
            "bureau",
            f"score {profile.bureau_score}, overdue level M{profile.current_overdue_months}"
            f", public records {profile.public_records}",
        ),
        ("tax", f"rating {profile.tax_rating or '-'}, arrears {profile.tax_arrears or 0}"),
        *_party_rows(profile),
        (
            "core",
            f"customer {profile.core_customer_no or '-'}, avg balance "
            f"{profile.core_average_balance or '-'}",
        ),
        *_guarantor_rows(profile),
        ("missing sources", profile.missing_sources or "none"),
        ("why referred", "; ".join(verdict.reasons)),
    ]
    if profile.round > 1:
        rows.insert(1, ("轮次 round", f"{profile.round} (after a return for more documents)"))
    body = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    again = f" (round {profile.round})" if profile.round > 1 else ""
    return Referral(
        profile.application_no,
        f"Credit referral {profile.application_no}{again}: {profile.requested_amount:,.0f} CNY",
        mask_text(body),
        verdict.score,
        str(verdict.annual_rate),
        verdict.tier,
        profile.round,
    )


def record_review(
    engine: Engine,
    rules: RuleSet,
    item: Referral,
    *,
    chosen: str,
    responder: str,
    maker: str,
    comment: str | None = None,
) -> Decision:
    """A person's answer to a referral, if the four-eyes rules allow it, as the decision of
    the round it was referred in (a late or repeated answer never decides another round)."""
    if responder == maker:
        raise ReviewRefused(f"{responder} made this request and cannot also approve it")
    allowed = rules.approvers(item.tier, maker)
    if responder not in allowed:
        raise ReviewRefused(f"{responder} is not an approver of this amount ({allowed})")
    profile = latest_profile(engine, item.application_no, item.round)
    if profile is None:
        raise ReviewRefused(f"no profile for {item.application_no} in round {item.round}")
    outcome = {"Approve": "APPROVE", "Reject": "REJECT", "Return": "RETURN"}[chosen]
    if outcome == "RETURN":
        comment = return_reason(profile, comment)
    return record(
        engine,
        profile,
        outcome,
        decided_by=responder,
        rules=rules,
        reasons=f"referred: {item.body.splitlines()[-1]}; answered {chosen} by {responder}",
        rate=Decimal(item.rate),
        comment=comment,
    )


def return_reason(profile: ApplicantProfile, comment: str | None) -> str:
    """Why the application goes back to the applicant: the approver's words, else the sources
    the harvest could not get. A return nobody can explain is refused (the applicant could
    not know what to bring), and the application stays undecided for the next review."""
    reason = (comment or "").strip()
    if not reason and profile.missing_sources:
        reason = f"missing: {profile.missing_sources}"
    if not reason:
        raise ReviewRefused("a return for more documents needs a reason (which documents)")
    return reason[:400]


def refresh_pending(engine: Engine, bot: LosBot, ledger: WorkItemLedger) -> int:
    """Decisions the LOS held for its checker: read the LOS's status again and close what the
    checker answered; returns how many applications the checker settled.

    What is read is the union of the decisions stored PENDING_REVIEW and the postings whose
    work item waits NEEDS_HUMAN for the checker, so neither can outlive the other: an item is
    closed even when its decision's status was already stored by an earlier run that died in
    between. The item is closed first (``ledger.resolve_waiting``, audited, DONE with the
    checker's outcome: approved or rejected), then the decision's LOS status is stored, and a
    checker's rejection or return moves the application with it (audited, one transaction).
    One application whose page cannot be read is left for the next run, never stopping the
    others."""
    with engine.connect() as conn:
        held = set(
            conn.execute(
                select(decision.c.application_no, decision.c.round).where(
                    decision.c.los_status == "PENDING_REVIEW"
                )
            )
            .tuples()
            .all()
        )
    waiting = {
        posting_of(i.business_key): i
        for i in ledger.items(WorkItemState.NEEDS_HUMAN, KIND)
        if (i.result or {}).get("waiting_for")
    }
    changed = 0
    for number, round in sorted(held | set(waiting)):
        try:
            with call_subject(number):
                reading = bot.read_status(number)
        except LegacyError as exc:
            log.warning("%s: the LOS status could not be read now: %s", number, exc)
            continue
        status = round_status(reading, round)
        if status == "PENDING_REVIEW":
            continue
        answer = checker_answer(reading, bot.login.username, round)
        if (item := waiting.get((number, round))) is not None:
            try:
                ledger.resolve_waiting(
                    item,
                    result=answer,
                    evidence=f"the LOS status page of {number} shows {status}"
                    + (
                        f" after {answer['checker']}'s {answer['checker_reference']}"
                        if answer.get("checker")
                        else ""
                    ),
                )
            except WorkItemError as exc:  # another run closed it meanwhile
                log.info("los_decision %s: %s", number, exc)
        _store_los_status(engine, number, round, status, answer)
        changed += 1
    return changed


def round_status(reading: StatusReading, round: int) -> str:
    """The LOS's status of one round: after its last decision (the page's status while the
    round is the latest; a round a return closed stays RETURNED)."""
    rows = reading.of_round(round)
    return rows[-1].status_after if rows else reading.status


def checker_answer(reading: StatusReading, maker: str, round: int = 1) -> dict[str, Any]:
    """The LOS's final status of the round and, when someone else answered after the hub's
    posting in it, who (the checker), with the reference and decision they recorded."""
    answer: dict[str, Any] = {"status": round_status(reading, round)}
    theirs = [r for r in reading.of_round(round) if r.user != maker]
    if theirs:
        last = theirs[-1]
        answer |= {
            "checker": last.user,
            "checker_reference": last.reference,
            "checker_decision": last.decision,
        }
    return answer


APPLICATION_AFTER_CHECKER = {"REJECTED": "REJECTED", "RETURNED": "RETURNED"}
"""A checker who rejects or returns what the hub approved: the application follows the LOS."""


def _store_los_status(
    engine: Engine, application_no: str, round: int, status: str, answer: dict[str, Any]
) -> None:
    """The LOS's status with the round's decision (unless a run stored it already) and, on a
    checker's rejection or return, the application's status; audited in the same transaction."""
    with engine.begin() as conn:
        stored = conn.execute(
            update(decision)
            .where(
                decision.c.application_no == application_no,
                decision.c.round == round,
                decision.c.los_status.is_distinct_from(status),
            )
            .values(los_status=status)
            .returning(decision.c.id)
        ).first()
        if stored is None:
            return
        after = APPLICATION_AFTER_CHECKER.get(status)
        if after is not None:
            conn.execute(
                update(application)
                .where(
                    application.c.application_no == application_no,
                    application.c.round == round,
                )
                .values(status=after)
            )
        audit.append(
            conn,
            actor=answer.get("checker") or "los",
            action="decision.los_status",
            subject=application_no,
            after={**answer, "application": after, "round": round},
        )


def post_to_los(engine: Engine, bot: LosBot, guard: LedgerGuard, application_no: str) -> str:
    """Post the hub's decision of the application's latest round into the LOS once; returns
    the approval reference.

    Once across workers and retries: the submission is the work item
    ``("los_decision", posting_key(application_no, round))``. A decision the LOS now holds for
    a second approver is recorded (its reference kept) and the item waits NEEDS_HUMAN for the
    checker."""
    made = decided(engine, application_no)
    if made is None:
        raise LookupError(f"{application_no} has no decision to post")
    if made["los_reference"]:
        return str(made["los_reference"])
    receipt = submit_once(bot, guard, application_no, los_form(made), made["round"])
    with engine.begin() as conn:
        stored = conn.execute(
            update(decision)
            .where(decision.c.id == made["id"], decision.c.los_reference.is_(None))
            .values(los_reference=receipt.reference, los_status=receipt.status)
            .returning(decision.c.id)
        ).first()
        if stored is not None:
            _audit_posted(conn, application_no, made["round"], receipt.reference, receipt.status)
    return receipt.reference


def _audit_posted(
    conn: Connection, application_no: str, round: int, reference: str, status: str, how: str = ""
) -> None:
    """The LOS's first status of a round's decision, kept with its reference: the start of the
    decision's LOS status history (``decision.los_status`` events carry what came after)."""
    audit.append(
        conn,
        actor="loanhub",
        action="decision.posted",
        subject=application_no,
        after={"round": round, "reference": reference, "status": status}
        | ({"settled": how} if how else {}),
    )


def los_form(made: dict[str, Any]) -> LosDecision:
    """The LOS approval form of a stored decision (a row of ``decision``). A return carries
    its reason in the LOS's comment (审批意见): the branch reads there what to ask for."""
    by = f"{made['decided_by']} ({made['rule_set_version']})"
    comment = f"退回补件：{made['comment'] or '-'} / {by}" if made["outcome"] == "RETURN" else by
    return LosDecision(
        made["outcome"],
        made["approved_amount"],
        made["term_months"],
        made["annual_rate"],
        "",
        comment[:500],
    )


def submission(
    username: str, application_no: str, made: LosDecision, round: int = 1
) -> dict[str, Any]:
    """The work item's payload: what was sent, and as whom (the status page names the user),
    and in which round after the first (round 1's payload is the one from before rounds)."""
    payload = {"application_no": application_no, **decision_fields(made), "user": username}
    return payload if round == 1 else {**payload, "round": round}


def submit_once(
    bot: LosBot, guard: LedgerGuard, application_no: str, made: LosDecision, round: int = 1
) -> DecisionReceipt:
    """The bot's submission as the work item ``("los_decision", posting_key(...))``: two
    workers on one application's round submit once (the second waits for the first's
    outcome), a retry after a recorded outcome sends nothing, and a decision the LOS holds for
    a checker is NEEDS_HUMAN with its reference kept."""
    bot.check(made)  # a form the LOS cannot take is refused before any work item exists
    payload = submission(bot.login.username, application_no, made, round)

    def post() -> dict[str, Any]:
        receipt = bot.submit_decision(application_no, made, round)
        if receipt.waiting_for:  # recorded, and now a person's turn: not a failure
            raise NeedsHuman(
                f"los: decision {receipt.reference} on {application_no} waits for "
                f"{receipt.waiting_for}",
                system="los",
                result=receipt.as_result(),
            )
        return receipt.as_result()

    try:
        return DecisionReceipt.from_result(
            guard.once(KIND, posting_key(application_no, round), payload, post)
        )
    except NeedsHuman as exc:
        if exc.result and exc.result.get("waiting_for"):
            return DecisionReceipt.from_result(exc.result)
        raise


# -- settling what nobody heard the end of ---------------------------------------------------


def settle_los_decisions(
    engine: Engine, ledger: WorkItemLedger, bot: LosBot, *, quiet: timedelta = QUIET
) -> dict[str, int]:
    """Settle every ``los_decision`` item whose outcome nobody knows, by the status page.

    An item still IN_PROGRESS past its lease (its worker was killed) is first put IN_DOUBT by
    the ledger. Then, for each IN_DOUBT item, the status page decides, and each outcome goes
    through the ledger's own methods (audited):

    - our decision is there -> DONE with its reference, stored with the decision (a decision
      now waiting for a checker keeps ``los_status`` PENDING_REVIEW: ``refresh_pending``
      follows it from there);
    - nothing is there, ``quiet`` after the last moment anything could have been sent ->
      FAILED(transient) with the evidence "nothing recorded": the next post submits once;
      nothing there sooner than that stays IN_DOUBT (a late commit behind a 504 is possible);
    - a different decision is there -> NEEDS_HUMAN with the reason, for a person.

    NEEDS_HUMAN items that only wait for the LOS's checker are left to the checker; their
    reference is copied to the decision if a killed worker never stored it. A LOS that cannot
    be read leaves the item as it is, and the others are settled all the same. Returns counts.
    """
    counts = dict.fromkeys(
        ("done", "not_recorded", "needs_human", "waiting", "unreadable", "waiting_for_checker"),
        0,
    )
    _expire_abandoned(ledger)
    for item in ledger.items(WorkItemState.IN_DOUBT, KIND):
        counts[_settle(engine, ledger, bot, item, quiet)] += 1
    for item in ledger.items(WorkItemState.NEEDS_HUMAN, KIND):
        result = item.result or {}
        if result.get("waiting_for") and result.get("reference"):
            number, round = posting_of(item.business_key)
            _store_reference(engine, number, round, result["reference"], result["status"])
            counts["waiting_for_checker"] += 1
    if any(counts[k] for k in ("done", "not_recorded", "needs_human")):
        log.info("los decisions settled by the status page: %s", counts)
    return counts


def _expire_abandoned(ledger: WorkItemLedger) -> None:
    """An item IN_PROGRESS past its lease: its worker died mid-call. The ledger's claim turns
    it IN_DOUBT (never NEW: the decision may be in the LOS)."""
    now = utcnow()
    for item in ledger.items(WorkItemState.IN_PROGRESS, KIND):
        if item.lease_expires_at is not None and item.lease_expires_at <= now:
            try:
                ledger.claim(KIND, item.business_key, item.payload)
            except WorkItemError as exc:  # claimed again meanwhile: its new owner closes it
                log.info("los_decision %s: %s", item.business_key, exc)


@dataclass(frozen=True)
class PostingReading:
    """What the status page says of one posting in doubt, read-only: ``found`` is ``ours``
    (the hub's decision is there: ``receipt``), ``other`` (another decision of the round is
    there, the last one ``last``), ``nothing`` (nothing recorded, ``quiet`` after the last
    possible send) or ``too_soon`` (nothing yet, but a late commit is still possible).
    ``evidence`` says it in words, for the audit chain and the operator."""

    found: str
    evidence: str
    receipt: DecisionReceipt | None = None
    last: Recorded | None = None
    status: str = ""


def read_posting(bot: LosBot, item: WorkItem, quiet: timedelta = QUIET) -> PostingReading:
    """Read the application's status page for the posting of ``item`` (no submit, nothing
    changed). ``LegacyError`` when the LOS cannot be read."""
    number, round = posting_of(item.business_key)
    with call_subject(number):
        reading = bot.read_status(number)
    this_round = reading.of_round(round)  # an earlier round's decision is never this one
    ours = [r for r in this_round if _is_ours(r, item.payload)]
    status = round_status(reading, round)
    if ours:
        if len(ours) > 1:
            log.error("los: %s holds the hub's decision %d times", number, len(ours))
        mine = ours[0]
        receipt = DecisionReceipt(
            number,
            mine.reference,
            status,
            True,
            "a second approver (复核): above this user's limit"
            if status == "PENDING_REVIEW"
            else "",
        )
        return PostingReading(
            "ours",
            f"los status page of {number} shows {mine.reference} ({mine.decision} "
            f"by {mine.user}, {mine.status_after})",
            receipt=receipt,
            status=status,
        )
    if this_round:
        last = this_round[-1]
        payload = item.payload
        return PostingReading(
            "other",
            f"los: {number} holds {last.reference} ({last.decision} by {last.user}, "
            f"{last.status_after}), not the hub's {payload.get('decision')} by "
            f"{payload.get('user')}: for a person, nothing was submitted",
            last=last,
            status=status,
        )
    waited = int((utcnow() - _last_send(item)).total_seconds())
    if utcnow() - _last_send(item) < quiet:
        return PostingReading(
            "too_soon",
            f"los status page of {number}: nothing recorded yet, {waited} s after the last "
            f"send; a late commit behind a 504 is possible for {int(quiet.total_seconds())} s",
            status=status,
        )
    return PostingReading(
        "nothing",
        f"los status page of {number}: nothing recorded, {waited} s after the last send; "
        "the next run submits once",
        status=status,
    )


def posting_done(
    engine: Engine,
    ledger: WorkItemLedger,
    item: WorkItem,
    seen: PostingReading,
    also: Callable[[Connection], None] | None = None,
) -> WorkItem:
    """Settle a posting the status page shows as the hub's: DONE with its reference, stored
    with the round's decision."""
    assert seen.receipt is not None
    number, round = posting_of(item.business_key)
    done = ledger.resolve_in_doubt(
        item, happened=True, result=seen.receipt.as_result(), evidence=seen.evidence, also=also
    )
    _store_reference(engine, number, round, seen.receipt.reference, seen.receipt.status)
    return done


def _settle(
    engine: Engine, ledger: WorkItemLedger, bot: LosBot, item: WorkItem, quiet: timedelta
) -> str:
    number, _ = posting_of(item.business_key)
    try:
        seen = read_posting(bot, item, quiet)
    except LegacyError as exc:  # the LOS is down or strange: the item waits for the next run
        log.warning("los_decision %s: status page not read, stays in doubt: %s", number, exc)
        return "unreadable"
    try:
        if seen.found == "ours":
            posting_done(engine, ledger, item, seen)
            return "done"
        if seen.found == "other":
            assert seen.last is not None
            return _refer(ledger, item, seen.last, seen.status)
        if seen.found == "too_soon":
            return "waiting"
        ledger.resolve_in_doubt(item, happened=False, evidence=seen.evidence)
        return "not_recorded"
    except WorkItemError as exc:  # another worker settled or claimed it meanwhile
        log.info("los_decision %s: %s", number, exc)
        return "waiting"


def _refer(ledger: WorkItemLedger, item: WorkItem, last: Recorded, status: str) -> str:
    """Someone else's decision, or another one, is in the LOS and ours is not: a person's
    case. The ledger has no IN_DOUBT -> NEEDS_HUMAN step, so: not done (audited, with what the
    page shows), claimed at once and handed to a person, nothing submitted in between."""
    number, _ = posting_of(item.business_key)
    payload = item.payload
    reason = (
        f"los: {number} holds {last.reference} ({last.decision} by {last.user}, "
        f"{last.status_after}), not the hub's {payload.get('decision')} by "
        f"{payload.get('user')}: for a person, nothing was submitted"
    )
    ledger.resolve_in_doubt(item, happened=False, evidence=reason)
    claimed = ledger.claim(KIND, item.business_key, payload)
    if claimed.state is WorkItemState.IN_PROGRESS and claimed.owner == ledger.owner:
        ledger.needs_human(
            claimed,
            reason,
            result={
                "application_no": number,
                "reference": last.reference,
                "status": status,
                "submitted": False,
            },
        )
    return "needs_human"


def _is_ours(recorded: Recorded, payload: dict[str, Any]) -> bool:
    """The row is the decision this work item sent: same user, outcome and (approved) amount."""
    if recorded.user != payload.get("user") or recorded.decision != payload.get("decision"):
        return False
    if recorded.decision != "APPROVE":
        return True
    amount = payload.get("amount")
    return amount is not None and recorded.amount == Decimal(str(amount))


def _last_send(item: WorkItem) -> Any:
    """The last moment the item's call could have reached the LOS: the end of an abandoned
    claim's lease, or when its worker gave up on the answer."""
    return item.lease_expires_at or item.updated_at


def _store_reference(
    engine: Engine, application_no: str, round: int, reference: str, status: str
) -> None:
    """The LOS's reference and status with the round's decision, unless it already has them."""
    with engine.begin() as conn:
        stored = conn.execute(
            update(decision)
            .where(
                decision.c.application_no == application_no,
                decision.c.round == round,
                decision.c.los_reference.is_(None),
            )
            .values(los_reference=reference, los_status=status)
            .returning(decision.c.id)
        ).first()
        if stored is not None:
            how = "read back from the LOS status page"
            _audit_posted(conn, application_no, round, reference, status, how)


# -- posting a batch, one application never stopping the others ------------------------------


@dataclass
class PostOutcome:
    """Where each application of one posting run went, with the reason when not posted.

    ``failed_transient`` (the LOS busy or down, nothing recorded) is what a retry of the task
    posts; ``in_doubt`` waits for ``settle_los_decisions`` at the next run; ``needs_human``
    and ``refused`` wait for a person; ``errors`` are surprises (bugs), the item in doubt."""

    posted: dict[str, str] = field(default_factory=dict)  # application -> reference
    waiting_for_checker: dict[str, str] = field(default_factory=dict)  # -> reference
    needs_human: dict[str, str] = field(default_factory=dict)  # application -> reason
    in_doubt: dict[str, str] = field(default_factory=dict)
    failed_transient: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def worth_retrying(self) -> bool:
        """True when a retry of the task could post more now: something failed transiently
        (or unexpectedly). In-doubt, referred and refused items are not a retry's business."""
        return bool(self.failed_transient or self.errors)

    def summary(self) -> dict[str, Any]:
        """Counts and the reasons, for the task's log and return value (no personal data: the
        reasons are the ledger's masked texts and application numbers)."""
        return {
            name: dict(getattr(self, name))
            for name in (
                "posted",
                "waiting_for_checker",
                "needs_human",
                "in_doubt",
                "failed_transient",
                "refused",
                "errors",
            )
        }


def post_decisions(
    engine: Engine, bot: LosBot, guard: LedgerGuard, application_nos: list[str]
) -> PostOutcome:
    """Post each application's decision once (``post_to_los``); whatever one of them meets
    goes to its queue with the reason and the loop goes on to the next."""
    outcome = PostOutcome()
    for number in application_nos:
        try:
            with call_subject(number):
                reference = post_to_los(engine, bot, guard, number)
        except Exception as exc:  # sorted below: one item never stops the rest
            made = decided(engine, number)
            key = posting_key(number, made["round"] if made is not None else 1)
            _sort(outcome, guard.ledger, number, key, exc)
            continue
        made = decided(engine, number)
        if made is not None and made["los_status"] == "PENDING_REVIEW":
            outcome.waiting_for_checker[number] = reference
        else:
            outcome.posted[number] = reference
    return outcome


def _sort(
    outcome: PostOutcome, ledger: WorkItemLedger, number: str, key: str, exc: Exception
) -> None:
    reason = mask_text(f"{type(exc).__name__}: {exc}")[:500]
    item = ledger.get(KIND, key)
    state = item.state if item is not None else None
    if isinstance(exc, OutcomeUnknown) or state is WorkItemState.IN_DOUBT:
        outcome.in_doubt[number] = reason
    elif isinstance(exc, ConflictingWorkItem):
        outcome.needs_human[number] = f"the decision changed since it was first sent: {reason}"
    elif isinstance(exc, NeedsHuman):
        outcome.needs_human[number] = reason
    elif isinstance(exc, TransientError):
        outcome.failed_transient[number] = reason
    elif isinstance(exc, BusinessAnswer | ContractError | LookupError):
        outcome.refused[number] = reason
    else:
        log.exception("los: posting %s failed unexpectedly", number, exc_info=exc)
        outcome.errors[number] = reason
        return
    log.warning("los: %s not posted: %s", number, reason)
