"""Intake of applicants: a batch of submitted applications becomes parties, applications and
consents in the canonical store, and every record that breaks the contract is quarantined.

Loading the same batch again adds nothing (business keys), so a re-run is safe; an
application returned for more documents that comes in again is re-opened (``returns.reopen``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import Connection, Engine, Table, select

from loanhub.flows.returns import reopen
from loanhub.platform import audit
from loanhub.platform.canonical import sha256_hex
from loanhub.platform.db import insert_or_ignore
from loanhub.platform.masking import known_names
from loanhub.platform.quarantine import quarantine, quarantine_validation_error
from schemas.base import CanonicalModel
from schemas.party import Application, Consent, Party, PartyKind
from schemas.tables import application, consent, fact_row, party
from schemas.types import utcnow

SOURCE_SYSTEM = "intake"


def contract_version(*models: type[BaseModel]) -> str:
    """A short hash of the models' JSON schemas: changes exactly when the contract does."""
    return sha256_hex([m.model_json_schema() for m in models])[:16]


INTAKE_CONTRACT = (Party, Application, Consent)  # versioned together


@dataclass
class IntakeSummary:
    """Counts of one batch; ``received == loaded + already_present + quarantined`` always."""

    received: int = 0
    loaded: int = 0
    already_present: int = 0
    persons: int = 0
    enterprises: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    reopened: int = 0  # returned for more documents, submitted again (among already_present)

    @property
    def quarantined_records(self) -> int:
        return sum(self.quarantined.values())


class IntakeRecord(CanonicalModel):
    """One submitted applicant: the party, the application and the consent it gave; and, when
    the loan is guaranteed, the guarantor (a party of its own, person or company, named by the
    application's ``guarantor_id_number``) with the consents it gave (the bureau for guarantee
    review, reason 03)."""

    party: Party
    application: Application
    consent: Consent
    consents: list[Consent] = Field(
        default_factory=list, description="further consents: tax, social security, core"
    )
    guarantor: Party | None = None
    guarantor_consents: list[Consent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_party(self) -> Self:
        for section in (self.application, self.consent, *self.consents):
            if section.party_id_number.upper() != self.party.id_number:
                raise ValueError(f"{type(section).__name__} names another party than the record")
            section.party_id_number = self.party.id_number
        return self

    @model_validator(mode="after")
    def _guarantor_named_once(self) -> Self:
        named = (self.application.guarantor_id_number or "").upper() or None
        given = self.guarantor.id_number if self.guarantor is not None else None
        if named != given:
            raise ValueError("application.guarantor_id_number and the guarantor party disagree")
        if given is not None and given == self.party.id_number:
            raise ValueError("the applicant cannot guarantee its own loan")
        for c in self.guarantor_consents:
            if given is None or c.party_id_number.upper() != given:
                raise ValueError("a guarantor consent names another party than the guarantor")
            c.party_id_number = given
        self.application.guarantor_id_number = given
        return self

    @classmethod
    def from_raw(cls, record: dict[str, Any], lineage: dict[str, Any]) -> IntakeRecord:
        sections = ("party", "application", "consent")
        values: dict[str, Any] = {s: {**record.get(s, {}), "lineage": lineage} for s in sections}
        values["consents"] = [{**c, "lineage": lineage} for c in record.get("consents", [])]
        if record.get("guarantor") is not None:
            values["guarantor"] = {**record["guarantor"], "lineage": lineage}
        values["guarantor_consents"] = [
            {**c, "lineage": lineage} for c in record.get("guarantor_consents", [])
        ]
        return cls.model_validate(values)

    def parties(self) -> list[Party]:
        return [self.party, *([self.guarantor] if self.guarantor is not None else [])]

    def all_consents(self) -> list[Consent]:
        return [self.consent, *self.consents, *self.guarantor_consents]


def _insert_new(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows whose business key is not stored yet; returns how many were new."""
    if not rows:
        return 0
    keys = [r[key] for r in rows]
    existing = set(conn.execute(select(table.c[key]).where(table.c[key].in_(keys))).scalars())
    fresh = [r for r in rows if r[key] not in existing]
    if fresh:
        conn.execute(insert_or_ignore(conn, table), fresh)
    return len(fresh)


def _duplicate_in_batch(
    record: IntakeRecord, ref: str, first_seen: dict[tuple[str, str], str]
) -> tuple[str, str, str] | None:
    """(field path, value, reason) when a business key of ``record`` was used earlier in the
    batch; otherwise remember its keys and return None. The first one wins, the second is
    quarantined: nothing in a batch is dropped without a trace."""
    keys = [
        ("application.application_no", record.application.application_no),
        ("consent.consent_ref", record.consent.consent_ref),
    ]
    for field_path, value in keys:
        if (field_path, value) in first_seen:
            return (
                field_path,
                value,
                f"{field_path} {value} appears twice in the batch "
                f"(first in {first_seen[field_path, value]})",
            )
    for key in keys:
        first_seen[key] = ref
    return None


def load_applicants(
    engine: Engine, records: Iterable[dict[str, Any]], *, source_ref: str, actor: str = "loanhub"
) -> IntakeSummary:
    """Validate and store a batch in one transaction; bad records go to quarantine."""
    version = contract_version(*INTAKE_CONTRACT)
    fetched_at = utcnow()
    summary = IntakeSummary()
    good: list[IntakeRecord] = []
    records = list(records)
    # Every applicant's name is known before anything is written, so that the raw payload of a
    # refused record is masked with its own applicant's name too.
    known_names.add(
        *(
            n
            for r in records
            for section in ("party", "guarantor")
            if isinstance(n := (r.get(section) or {}).get("name"), str)
        )
    )
    first_seen: dict[tuple[str, str], str] = {}  # (key field, value) -> record that used it
    with engine.begin() as conn:
        for n, record in enumerate(records, 1):
            summary.received += 1
            lineage = {
                "source_system": SOURCE_SYSTEM,
                "fetched_at": fetched_at,
                "mapping_version": version,
                "raw_payload_hash": sha256_hex(record),
            }
            try:
                candidate = IntakeRecord.from_raw(record, lineage)
            except ValidationError as err:
                ref = record.get("application", {}).get("application_no") or f"#{n}"
                rows = quarantine_validation_error(
                    conn,
                    err,
                    source_system=SOURCE_SYSTEM,
                    source_ref=source_ref,
                    record_ref=ref,
                    raw=record,
                    mapping_version=version,
                )
                summary.quarantined.update(r.reason for r in rows[:1])
                continue
            ref = candidate.application.application_no
            clash = _duplicate_in_batch(candidate, ref, first_seen)
            if clash is not None:
                field_path, value, reason = clash
                quarantine(
                    conn,
                    source_system=SOURCE_SYSTEM,
                    source_ref=source_ref,
                    record_ref=ref,
                    reason=reason,
                    field_path=field_path,
                    value=value,
                    raw=record,
                    mapping_version=version,
                )
                summary.quarantined.update([reason])
                continue
            good.append(candidate)
        new_apps = _insert_new(
            conn,
            application,
            "application_no",
            [{**fact_row(g.application), "round": 1} for g in good],  # rounds are the hub's
        )
        parties = {p.id_number: p for g in good for p in g.parties()}  # a guarantor of two
        _insert_new(conn, party, "id_number", [fact_row(p) for p in parties.values()])
        _insert_new(
            conn, consent, "consent_ref", [fact_row(c) for g in good for c in g.all_consents()]
        )
        summary.loaded = new_apps
        summary.already_present = len(good) - new_apps
        summary.reopened = sum(
            reopen(conn, g.application.application_no, actor=actor) for g in good
        )
        summary.persons = sum(g.party.kind is PartyKind.PERSON for g in good)
        summary.enterprises = len(good) - summary.persons
        audit.append(
            conn,
            actor=actor,
            action="intake.batch_loaded",
            subject=source_ref,
            after={
                "received": summary.received,
                "loaded": summary.loaded,
                "already_present": summary.already_present,
                "quarantined": summary.quarantined_records,
                "reopened": summary.reopened,
                "contract": version,
            },
        )
    return summary
