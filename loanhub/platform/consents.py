"""The consent book: no query about a person leaves the hub without their recorded consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from kernel.failures import BusinessAnswer
from loanhub.platform import audit
from schemas.tables import consent
from schemas.types import utcnow


class ConsentMissing(BusinessAnswer):
    """No recorded, unexpired consent of the subject for this scope and reason: nothing may be
    sent about them (the refusal itself is audited)."""


@dataclass(frozen=True)
class RecordedConsent:
    """The consent a subject gave for one scope and reason that lasts longest, valid or not."""

    consent_ref: str
    expires_at: datetime


class ConsentBook:
    """Looks consents up in the canonical store; a refusal is written to the audit chain."""

    def __init__(self, engine: Engine, actor: str = "loanhub") -> None:
        self.engine = engine
        self.actor = actor

    def require(self, subject: str, scope: str, reason: str) -> str:
        now = utcnow()
        with self.engine.connect() as conn:
            ref = conn.execute(
                select(consent.c.consent_ref)
                .where(
                    consent.c.party_id_number == subject,
                    consent.c.scope == scope,
                    consent.c.reason == reason,
                    consent.c.granted_at <= now,
                    consent.c.expires_at > now,
                )
                .order_by(consent.c.expires_at.desc())
                .limit(1)
            ).scalar()
        if ref is not None:
            return ref
        with self.engine.begin() as conn:
            audit.append(
                conn,
                actor=self.actor,
                action="consent.refused",
                subject=subject,
                after={
                    "scope": scope,
                    "reason": reason,
                    "why": "no valid consent recorded; nothing was sent",
                },
            )
        raise ConsentMissing(
            f"no valid {scope} consent for reason {reason}: query not sent", system=scope.lower()
        )

    def longest(self, subject: str, scope: str, reason: str) -> RecordedConsent | None:
        """The recorded consent of ``subject`` for ``scope`` and ``reason`` that expires last
        (lapsed or not), or None: what a check for consents about to lapse reads. Nothing is
        audited: this sends nothing."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(consent.c.consent_ref, consent.c.expires_at)
                .where(
                    consent.c.party_id_number == subject,
                    consent.c.scope == scope,
                    consent.c.reason == reason,
                )
                .order_by(consent.c.expires_at.desc())
                .limit(1)
            ).first()
        return RecordedConsent(*row) if row is not None else None
