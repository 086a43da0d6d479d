"""Credit rules as versioned data: hard rejects, a scorecard, approval tiers, pricing.

The rule set is a YAML file (``loanhub/rules/<name>.yaml``); its version is its name plus a
hash of its bytes, stored with every decision it makes or refers, so that any decision can be
replayed against exactly the rules that made it. Evaluating is a pure function of the profile.

A person is read by the rule set's top-level hard rejects, scorecard and thresholds; a company
(``party_kind`` ENTERPRISE) by its ``enterprise`` section, which names its own must-see sources:
the bureau and the tax authority, never social security (the portal holds insured persons; a
company has no contribution history of its own, and its employees' is not its record). Amount
tiers and pricing are shared. Whoever the applicant, a guarantor named on the application must
have been seen at the bureau (``guarantor_bureau``) before any rule approves or rejects by score.
"""

from __future__ import annotations

import hashlib
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict

from schemas.party import PartyKind
from schemas.profile import ApplicantProfile

HERE = Path(__file__).resolve().parent / "rule_sets"
OPS = {">": operator.gt, ">=": operator.ge, "==": operator.eq, "<": operator.lt, "<=": operator.le}
Outcome = Literal["APPROVE", "REJECT", "REFER"]
MUST_SEE = ("bureau", "tax", "social_security", "guarantor_bureau")
"""A person's sources no rule approves without (core: optional); ``guarantor_bureau`` is
missing only when the application names a guarantor."""


class HardReject(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    field: str
    op: Literal[">", ">=", "==", "<", "<="]
    value: Any
    reason: str


class Band(BaseModel):
    at_least: float | None = None
    equals: str | None = None
    points: int


class Card(BaseModel):
    field: str
    missing: int
    bands: list[Band]  # the first band the value reaches counts


class Tier(BaseModel):
    up_to: Decimal | None
    approvers: list[str]
    auto_approve: bool


class Premium(BaseModel):
    at_least: int
    add: Decimal


class Pricing(BaseModel):
    base_rate: Decimal
    premium: list[Premium]


class Section(BaseModel):
    """What decides for one kind of applicant: the sources it must see, its hard rejects, its
    scorecard and its thresholds."""

    must_see: tuple[str, ...]
    hard_rejects: list[HardReject]
    scorecard: list[Card]
    approve_at: int
    reject_below: int


class RuleSetSpec(BaseModel):
    name: str
    hard_rejects: list[HardReject]
    scorecard: list[Card]
    approve_at: int
    reject_below: int
    tiers: list[Tier]
    pricing: Pricing
    enterprise: Section | None = None  # without one, a company is referred to a person

    def personal(self) -> Section:
        return Section(
            must_see=MUST_SEE,
            hard_rejects=self.hard_rejects,
            scorecard=self.scorecard,
            approve_at=self.approve_at,
            reject_below=self.reject_below,
        )


@dataclass(frozen=True)
class Verdict:
    """What the rules say about one profile, and why."""

    outcome: Outcome
    score: int
    tier: int
    approvers: tuple[str, ...]
    annual_rate: Decimal
    decided_by: str
    reasons: tuple[str, ...] = field(default=())
    missing: tuple[str, ...] = field(default=())  # the sources a referral decides without


@dataclass(frozen=True)
class RuleSet:
    spec: RuleSetSpec
    version: str

    @classmethod
    def load(cls, name: str = "credit-v1") -> RuleSet:
        return _load(name)

    def section(self, profile: ApplicantProfile) -> Section | None:
        """The section that reads ``profile``: the enterprise one for a company (None when the
        rule set has none), the top level for a person."""
        if profile.party_kind is PartyKind.ENTERPRISE:
            return self.spec.enterprise
        return self.spec.personal()

    def score(self, profile: ApplicantProfile) -> int:
        section = self.section(profile)
        lines = _lines(section.scorecard) if section is not None else []
        return _clamped(sum(line(profile).points for line in lines))

    def tier(self, amount: Decimal) -> int:
        for n, tier in enumerate(self.spec.tiers):
            if tier.up_to is None or amount <= tier.up_to:
                return n
        raise ValueError(f"no tier for {amount}")

    def approvers(self, tier: int, maker: str) -> tuple[str, ...]:
        """Who may answer a referral of ``tier``: its approvers but the maker; when that leaves
        nobody, the next tier up (four eyes are never given up for want of a second pair)."""
        for t in self.spec.tiers[tier:]:
            chosen = tuple(a for a in t.approvers if a != maker)
            if chosen:
                return chosen
        raise ValueError(f"no approver other than {maker} from tier {tier + 1} up")

    def rate(self, score: int) -> Decimal:
        premium = next(p.add for p in self.spec.pricing.premium if score >= p.at_least)
        return self.spec.pricing.base_rate + premium

    def evaluate(self, profile: ApplicantProfile) -> Verdict:
        """Hard rejects first, each on data that is there (every one that applies is named);
        then a referral naming the sources that did not answer, whatever the score (their
        missing points would otherwise reject an applicant for what nobody could read); then
        the score floor, the auto-approval band and the tier."""
        score = self.score(profile)
        tier = self.tier(profile.requested_amount)
        approvers = tuple(self.spec.tiers[tier].approvers)
        rate = self.rate(score)
        section = self.section(profile)
        if section is None:
            why = f"rule set {self.spec.name} has no section for a {profile.party_kind.value}"
            return Verdict("REFER", score, tier, approvers, rate, "", (why,))
        hits = [r for r in section.hard_rejects if _check(r, profile).fired]
        if hits:
            return Verdict(
                "REJECT",
                score,
                tier,
                approvers,
                rate,
                f"rule:{hits[0].id}",
                tuple(f"{r.id}: {r.reason}" for r in hits),
            )
        gaps = missing(profile, section.must_see)
        if gaps:  # before the floor: a score without its sources says nothing about them
            return Verdict(
                "REFER",
                score,
                tier,
                approvers,
                rate,
                "",
                (f"no answer from {', '.join(gaps)}: a person decides without it",),
                gaps,
            )
        if score < section.reject_below:
            return Verdict(
                "REJECT",
                score,
                tier,
                approvers,
                rate,
                "rule:score_below_floor",
                (f"score {score} < {section.reject_below}",),
            )
        if score >= section.approve_at and self.spec.tiers[tier].auto_approve:
            return Verdict(
                "APPROVE",
                score,
                tier,
                approvers,
                rate,
                "rule:score_auto_approve",
                (f"score {score} >= {section.approve_at} within tier {tier + 1}",),
            )
        why = (
            f"score {score} in the referral band {section.reject_below}-{section.approve_at}"
            if score < section.approve_at
            else f"amount {profile.requested_amount} is above tier 1"
        )
        return Verdict("REFER", score, tier, approvers, rate, "", (why,))

    # -- explaining -----------------------------------------------------------------------

    def explain(self, profile: ApplicantProfile) -> Explanation:
        """Why the rules say what they say about ``profile``, factor by factor: each scorecard
        line with the value it read, the band it fell in and the points it gave; each hard
        reject with the value it checked against its threshold and whether it fired; the sum
        and the score (the sum held within 0-100: ``score``), the thresholds, the tier and
        its approvers, the rate, and the verdict itself. Computed by the very code that
        scores (``score`` sums these lines), so the breakdown cannot drift from the score."""
        verdict = self.evaluate(profile)
        section = self.section(profile)
        tier = self.spec.tiers[verdict.tier]
        if section is None:
            cards: list[ScoreLine] = []
            checks: list[RejectCheck] = []
            must_see: tuple[str, ...] = ()
        else:
            cards = [line(profile) for line in _lines(section.scorecard)]
            checks = [_check(r, profile) for r in section.hard_rejects]
            must_see = section.must_see
        return Explanation(
            rule_set=self.spec.name,
            version=self.version,
            section=None
            if section is None
            else ("enterprise" if profile.party_kind is PartyKind.ENTERPRISE else "person"),
            lines=tuple(cards),
            total=sum(c.points for c in cards),
            score=verdict.score,
            hard_rejects=tuple(checks),
            must_see=must_see,
            missing=missing(profile, must_see) if must_see else (),
            approve_at=None if section is None else section.approve_at,
            reject_below=None if section is None else section.reject_below,
            tier=verdict.tier + 1,
            tier_up_to=tier.up_to,
            auto_approve=tier.auto_approve,
            approvers=verdict.approvers,
            annual_rate=verdict.annual_rate,
            outcome=verdict.outcome,
            decided_by=verdict.decided_by,
            reasons=verdict.reasons,
        )

    @classmethod
    def installed(cls) -> list[RuleSet]:
        """Every rule set shipped under ``rule_sets/``, by file name."""
        return [_load(path.stem) for path in sorted(HERE.glob("*.yaml"))]

    @classmethod
    def of_version(cls, version: str | None) -> RuleSet | None:
        """The installed rule set whose version (name and hash of its bytes) is ``version``, or
        None: a decision made under rules edited or removed since cannot be replayed here, and
        a breakdown by other rules would be wrong."""
        return next((r for r in cls.installed() if r.version == version), None)


@dataclass(frozen=True)
class ScoreLine:
    """One scorecard line as it read a profile."""

    field: str
    value: Any  # None: the source had nothing, and the line gave its ``missing`` points
    band: str  # the band it fell in, in words: ">= 680", "= A", "missing", "no band"
    points: int
    best: int  # the most this line can give


@dataclass(frozen=True)
class RejectCheck:
    """One hard reject as it checked a profile: on data that is there only."""

    id: str
    field: str
    op: str
    threshold: Any
    value: Any
    fired: bool
    reason: str

    @property
    def checked(self) -> bool:
        """False when the value was missing: a hard reject never fires on what nobody read."""
        return self.value is not None


@dataclass(frozen=True)
class Explanation:
    """The rules' reading of one profile, factor by factor (``RuleSet.explain``)."""

    rule_set: str
    version: str
    section: str | None  # "person", "enterprise", or None (the rule set has none for it)
    lines: tuple[ScoreLine, ...]
    total: int  # the lines' points summed
    score: int  # the total held within 0-100: what the thresholds compare
    hard_rejects: tuple[RejectCheck, ...]
    must_see: tuple[str, ...]
    missing: tuple[str, ...]  # of ``must_see``, the sources that gave no answer
    approve_at: int | None
    reject_below: int | None
    tier: int  # 1-based, as people count them
    tier_up_to: Decimal | None
    auto_approve: bool
    approvers: tuple[str, ...]
    annual_rate: Decimal
    outcome: Outcome
    decided_by: str
    reasons: tuple[str, ...]

    @property
    def fired(self) -> tuple[RejectCheck, ...]:
        return tuple(c for c in self.hard_rejects if c.fired)


@dataclass(frozen=True)
class _Line:
    """A scorecard line bound to its card: reads a profile into a ``ScoreLine``."""

    card: Card

    def __call__(self, profile: ApplicantProfile) -> ScoreLine:
        card = self.card
        best = max([card.missing, *(b.points for b in card.bands)])
        value = getattr(profile, card.field)
        if value is None:
            return ScoreLine(card.field, None, "missing", card.missing, best)
        band = next((b for b in card.bands if _in_band(b, value)), None)
        if band is None:
            return ScoreLine(card.field, _comparable(value), "no band", 0, best)
        words = f"= {band.equals}" if band.equals is not None else f">= {band.at_least:g}"
        return ScoreLine(card.field, _comparable(value), words, band.points, best)


def _lines(cards: list[Card]) -> list[_Line]:
    return [_Line(card) for card in cards]


def _clamped(total: int) -> int:
    return max(0, min(100, total))


def _check(rule: HardReject, profile: ApplicantProfile) -> RejectCheck:
    value = getattr(profile, rule.field)
    fired = value is not None and OPS[rule.op](_comparable(value), rule.value)
    return RejectCheck(
        rule.id, rule.field, rule.op, rule.value, _comparable(value), bool(fired), rule.reason
    )


def missing(profile: ApplicantProfile, must_see: tuple[str, ...] = MUST_SEE) -> tuple[str, ...]:
    """The sources no rule decides without (``must_see``: a person's by default) that gave no
    answer for ``profile``, in order."""
    named = {s.strip() for s in profile.missing_sources.split(",")}
    return tuple(s for s in must_see if s in named)


def _comparable(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _in_band(band: Band, value: Any) -> bool:
    if band.equals is not None:
        return str(_comparable(value)) == band.equals
    return band.at_least is not None and float(value) >= band.at_least


@cache
def _load(name: str) -> RuleSet:
    raw = (HERE / f"{name}.yaml").read_bytes()
    spec = RuleSetSpec.model_validate(yaml.safe_load(raw))
    return RuleSet(spec, f"{spec.name}@{hashlib.sha256(raw).hexdigest()[:12]}")
