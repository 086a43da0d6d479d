"""Parties (persons and enterprises), applications and consents."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from schemas.base import Fact
from schemas.identifiers import resident_id_birth_date, validate_resident_id, validate_uscc
from schemas.types import Money, UtcDateTime


class PartyKind(StrEnum):
    PERSON = "PERSON"
    ENTERPRISE = "ENTERPRISE"


class Party(Fact):
    """A person (resident ID) or an enterprise (unified social credit code)."""

    kind: PartyKind
    id_number: str = Field(max_length=18, description="resident ID or USCC, validated")
    name: str = Field(min_length=1, max_length=100)
    mobile: str | None = Field(default=None, pattern=r"^1[3-9]\d{9}$", max_length=11)
    birth_date: date | None = None
    registered_capital: Money | None = None
    established_on: date | None = None

    @field_validator("id_number")
    @classmethod
    def _identifier_matches_kind(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") is PartyKind.PERSON:
            return validate_resident_id(value)
        return validate_uscc(value)

    @model_validator(mode="after")
    def _birth_date_from_identifier(self) -> Self:
        if self.kind is PartyKind.PERSON:
            born = resident_id_birth_date(self.id_number)
            if self.birth_date is None:
                self.birth_date = born
            elif self.birth_date != born:
                raise ValueError(
                    f"birth_date {self.birth_date} disagrees with the resident ID ({born})"
                )
        return self


class ApplicationStatus(StrEnum):
    RECEIVED = "RECEIVED"
    GATHERING = "GATHERING"
    DECIDING = "DECIDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RETURNED = "RETURNED"
    DISBURSED = "DISBURSED"


class Application(Fact):
    """A credit application as the LOS numbers it."""

    application_no: str = Field(max_length=32)
    party_id_number: str = Field(max_length=18)
    product: str = Field(max_length=32)
    requested_amount: Money = Field(gt=0)
    term_months: int = Field(ge=1, le=360)
    purpose: str | None = Field(default=None, max_length=200)
    submitted_at: UtcDateTime
    guarantor_id_number: str | None = Field(
        default=None,
        max_length=18,
        description="the party guaranteeing the loan (its bureau report is pulled for reason 03)",
    )
    status: ApplicationStatus = ApplicationStatus.RECEIVED
    round: int = Field(
        default=1, ge=1, description="its decision round: one more each time a return re-opens it"
    )


class ConsentScope(StrEnum):
    BUREAU = "BUREAU"
    TAX = "TAX"
    SOCIAL_SECURITY = "SOCIAL_SECURITY"
    CORE = "CORE"


class QueryReason(StrEnum):
    """The bureau's query reason codes (legacy-systems.md section 1)."""

    LOAN_APPROVAL = "01"
    POST_LOAN = "02"
    GUARANTEE_REVIEW = "03"


class Consent(Fact):
    """The subject's recorded consent; no query is sent without one for its scope and reason."""

    consent_ref: str = Field(max_length=40)
    party_id_number: str = Field(max_length=18)
    scope: ConsentScope
    reason: QueryReason
    granted_at: UtcDateTime
    expires_at: UtcDateTime
    evidence_hash: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _expires_after_grant(self) -> Self:
        if self.expires_at <= self.granted_at:
            raise ValueError("consent expires before it was granted")
        return self
