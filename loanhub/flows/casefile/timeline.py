"""The case's timeline: its milestones in time order, each from a timestamp the store keeps,
and the notes on what this case file cannot show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loanhub.flows.casefile.model import CaseFile


@dataclass(frozen=True)
class Event:
    """One step of the timeline: ``kind`` says what (the template words it), ``detail`` is
    data (a reference, a status, an amount)."""

    at: datetime
    kind: str
    detail: str = ""


def milestones(case: CaseFile) -> tuple[Event, ...]:
    """The milestones of the case in time order, each from a stored timestamp."""
    events = [
        Event(case.submitted_at, "submitted", case.product),
        Event(case.trace.fetched_at, "taken_in", case.trace.source_system),
    ]
    events += [
        Event(c.granted_at, "consent", f"{c.role} {c.scope} {c.reason} {c.consent_ref}")
        for c in case.consents
    ]
    events += [
        Event(c.expires_at, "consent_lapsed", f"{c.role} {c.scope} {c.reason} {c.consent_ref}")
        for c in case.consents
        if c.expires_at <= case.built_at
    ]
    events += [Event(b.listed_at, "blacklisted", f"{b.role}: {b.reason}") for b in case.blacklist]
    events += [
        Event(b.lifted_at, "blacklist_lifted", b.role) for b in case.blacklist if b.lifted_at
    ]
    events += [Event(f.trace.fetched_at, "fact", f"{f.kind} {f.key}") for f in case.facts]
    events += [Event(p.built_at, "profiled", f"round {p.round}") for p in case.profiles]
    for d in case.decisions:
        if d.referral is not None:
            events += [
                Event(at, "referred", f"round {d.round}, score {d.referral.score}")
                for at in d.referral.referred_at
            ]
        events.append(Event(d.decided_at, "decided", f"{d.outcome} by {d.decided_by}"))
        events += [
            Event(s.at, "los_status", f"{s.status} {s.reference or ''}".strip())
            for s in d.los_history
        ]
    events += [
        Event(a.occurred_at, "reopened", f"round {(a.after or {}).get('round', '')}")
        for a in case.audit
        if a.action == "application.reopened"
    ]
    for loan in case.loans:
        events.append(Event(loan.trace.fetched_at, "booked", loan.loan_account))
        for t in loan.tranches:
            events.append(Event(t.requested_at, "tranche", f"{t.tranche} {t.end_to_end_id}"))
            events += [
                Event(f.updated_at, "payment_file", f"{f.msg_id} {f.gateway_status or f.state}")
                for f in t.files
            ]
            if t.settled_at is not None:
                events.append(Event(t.settled_at, "settled", f"{t.end_to_end_id} {t.status}"))
        events += [
            Event(
                i.trace.fetched_at,
                "installment",
                f"{i.installment_no} {i.status} dpd {i.days_past_due}",
            )
            for i in loan.installments
            if i.status != "D"
        ]
    for w in case.warnings:
        events.append(Event(w.raised_at, "warning", f"{w.rule} {w.risk_class or ''}".strip()))
        if w.acknowledged_at is not None:
            events.append(Event(w.acknowledged_at, "acknowledged", w.rule))
    return tuple(sorted(events, key=lambda e: e.at))


def notes(case: CaseFile) -> tuple[str, ...]:
    """What this case's file cannot show, and why."""
    notes = []
    if not case.calls:
        notes.append(
            "no call in the journal names this application: calls made before the journal kept "
            "their application (revision 0013), or purged after the retention period"
        )
    if not case.facts and case.status not in ("RECEIVED",):
        notes.append("no source facts are stored for this application")
    return tuple(notes)
