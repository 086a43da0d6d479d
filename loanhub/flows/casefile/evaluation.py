"""The rules' reading of an application, factor by factor, as the decision was made.

A decision names the profile it was made on (its lineage's payload hash is the profile's
``inputs_hash``) and the rule set version that made it. The breakdown is that very rule set's
``explain`` of that very profile, with the blacklist as it stood when the decision was made
(the list keeps every entry and its lifting, so it can be read as of any moment). When the
version is not installed any more (the rules were edited since), no breakdown is shown: the
loaded rules' would explain a decision they did not make. The breakdown's score is checked
against the score stored with the decision; a difference is said, never smoothed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from loanhub.flows.profile import newest_profile
from loanhub.flows.rules import Explanation, RuleSet
from schemas.base import Lineage
from schemas.profile import ApplicantProfile
from schemas.tables import applicant_profile, blacklist_entry
from schemas.types import utcnow


@dataclass(frozen=True)
class Evaluation:
    round: int
    basis: str  # "decision": as decided; "undecided": the current rules on the round's profile
    rules_version: str | None  # the version the breakdown is by (or the decision named)
    explanation: Explanation | None
    stored_score: int | None  # the decision's, as stored
    profile_id: int | None
    blacklisted_then: bool | None
    notes: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool | None:
        """Whether the breakdown's score is the stored one (None: nothing to compare)."""
        if self.explanation is None or self.stored_score is None:
            return None
        return self.explanation.score == self.stored_score


def listed_at(conn: Connection, id_number: str, moment: datetime) -> bool:
    """Whether ``id_number`` was on the bank's blacklist at ``moment``."""
    found = conn.execute(
        select(blacklist_entry.c.id).where(
            blacklist_entry.c.id_number == id_number.upper(),
            blacklist_entry.c.listed_at <= moment,
            or_(blacklist_entry.c.lifted_at.is_(None), blacklist_entry.c.lifted_at > moment),
        )
    ).first()
    return found is not None


def _profile(row: Any, blacklisted: bool) -> tuple[int, ApplicantProfile]:
    values = dict(row._mapping)
    lineage = {k: values.pop(k) for k in Lineage.model_fields}
    profile_id = values.pop("id")
    values["blacklisted"] = blacklisted
    return profile_id, ApplicantProfile.model_validate({**values, "lineage": lineage})


def of_decision(conn: Connection, made: Any, party_id: str, loaded: RuleSet) -> Evaluation:
    """The breakdown of a stored decision (a row of ``decision``)."""
    version = made.rule_set_version
    stored = conn.execute(
        select(applicant_profile).where(
            applicant_profile.c.application_no == made.application_no,
            applicant_profile.c.inputs_hash == made.raw_payload_hash,
        )
    ).first()
    base = {"round": made.round, "basis": "decision", "stored_score": made.score}
    if stored is None:
        return Evaluation(
            **base,
            rules_version=version,
            explanation=None,
            profile_id=None,
            blacklisted_then=None,
            notes=("the profile this decision was made on is not in the store",),
        )
    then = listed_at(conn, party_id, made.decided_at)
    profile_id, profile = _profile(stored, then)
    rules = RuleSet.of_version(version)
    if rules is None:
        return Evaluation(
            **base,
            rules_version=version,
            explanation=None,
            profile_id=profile_id,
            blacklisted_then=then,
            notes=(
                f"decided under rule set {version or '(none recorded)'}, which is not "
                f"installed here (the rules loaded now are {loaded.version}): no breakdown is "
                "shown, since another rule set's would not be the one that decided",
            ),
        )
    explained = rules.explain(profile)
    notes = []
    if rules.version != loaded.version:
        notes.append(
            f"decided under {rules.version}, not the rules loaded now ({loaded.version}): "
            f"broken down by {rules.version}, as installed"
        )
    if made.score is None:
        notes.append("no score was stored with this decision (decided before scores were)")
    elif explained.score != made.score:
        notes.append(
            f"the stored score {made.score} differs from this breakdown's {explained.score}: "
            "the profile or the rules are not what decided"
        )
    return Evaluation(
        **base,
        rules_version=rules.version,
        explanation=explained,
        profile_id=profile_id,
        blacklisted_then=then,
        notes=tuple(notes),
    )


def undecided(
    conn: Connection, application_no: str, round: int, party_id: str, loaded: RuleSet
) -> Evaluation | None:
    """The current round's newest profile as the loaded rules read it now, the blacklist as it
    is now (what the next evaluation would see); None while the round has no profile."""
    stored = newest_profile(conn, application_no, round)
    if stored is None:
        return None
    now = listed_at(conn, party_id, utcnow())
    profile_id, profile = _profile(stored, now)
    return Evaluation(
        round=round,
        basis="undecided",
        rules_version=loaded.version,
        explanation=loaded.explain(profile),
        stored_score=None,
        profile_id=profile_id,
        blacklisted_then=now,
        notes=("not decided yet: the rules loaded now, on the round's newest profile",),
    )
