"""The hub's own records: work items, audit events, quarantined records and file receipts."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from kernel.failures import FailureKind
from schemas.base import CanonicalModel
from schemas.types import Sha256Hex, UtcDateTime


class WorkItemState(StrEnum):
    NEW = "NEW"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"
    NEEDS_HUMAN = "NEEDS_HUMAN"
    IN_DOUBT = "IN_DOUBT"
    CLOSED = "CLOSED"  # a person settled it outside the hub (an operator's note says how)


class WorkItem(CanonicalModel):
    """A call that changes or costs something in a legacy system, made to happen once."""

    id: int | None = None
    kind: str = Field(max_length=40)
    business_key: str = Field(max_length=200)
    payload: dict[str, Any]
    payload_hash: Sha256Hex
    state: WorkItemState
    failure_kind: FailureKind | None = None
    owner: str | None = Field(default=None, max_length=120)
    attempts: int = 0
    result: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=2000)
    evidence: str | None = Field(
        default=None,
        max_length=500,
        description="where the hub filed this item's evidence (a bot's capture folder), as "
        "the hub itself recorded it; never read out of error text a legacy system can write",
    )
    lease_expires_at: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class AuditEvent(CanonicalModel):
    """One link of the append-only audit chain; personal data inside is already masked."""

    seq: int = Field(ge=1)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=80)
    subject: str = Field(max_length=200)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    host: str = Field(max_length=255)
    ip: str = Field(max_length=45)
    occurred_at: UtcDateTime
    prev_hash: Sha256Hex
    hash: Sha256Hex
    mac: str | None = Field(
        default=None,
        max_length=64,
        description="HMAC-SHA256 of hash under the audit key (kept outside the store); "
        "null only for events from before the key, covered by the keyed checkpoint",
    )


class QuarantinedRecord(CanonicalModel):
    """A record refused by a schema contract, kept with the reason and its masked value."""

    id: int | None = None
    source_system: str = Field(max_length=32)
    source_ref: str = Field(max_length=255, description="file name, message id or page")
    record_ref: str = Field(max_length=80, description="line, record number or key")
    field_path: str | None = Field(default=None, max_length=200)
    value_masked: str | None = Field(default=None, max_length=500)
    reason: str = Field(max_length=1000)
    raw_masked: str | None = None
    mapping_version: str | None = Field(default=None, max_length=64)
    created_at: UtcDateTime
    reprocessed_at: UtcDateTime | None = Field(
        default=None,
        description="when a reprocess under a newer mapping stored the record: it left the "
        "quarantine then (None while it is still quarantined)",
    )
    reprocessed_by: str | None = Field(default=None, max_length=120)
    stored_mapping_version: str | None = Field(
        default=None, max_length=64, description="the mapping version the record was stored under"
    )


class FileState(StrEnum):
    RECEIVED = "RECEIVED"
    LOADED = "LOADED"
    PARTIAL = "PARTIAL"  # loaded, some records quarantined
    REJECTED = "REJECTED"


class FileReceipt(CanonicalModel):
    """A file taken from a legacy system, known by name and checksum so none is taken twice."""

    id: int | None = None
    source_system: str = Field(max_length=32)
    name: str = Field(max_length=255)
    sha256: Sha256Hex
    size_bytes: int = Field(ge=0)
    state: FileState
    detail: str | None = Field(default=None, max_length=2000)
    kept_at: str | None = Field(default=None, max_length=500, description="where the file is kept")
    records_loaded: int | None = Field(default=None, ge=0)
    records_quarantined: int | None = Field(default=None, ge=0)
    received_at: UtcDateTime
    updated_at: UtcDateTime


class BlacklistEntry(CanonicalModel):
    """The bank's own blacklist: a person or enterprise it will not lend to, whatever the
    sources say (fraud, a written-off loan, a sanctions hit). Kept by credit ops, never deleted:
    lifting an entry stamps it, so a decision can always be explained by the list as it was."""

    id: int | None = None
    id_number: str = Field(max_length=18, description="resident ID or USCC")
    reason: str = Field(max_length=200)
    listed_by: str = Field(max_length=64)
    listed_at: UtcDateTime
    lifted_by: str | None = Field(default=None, max_length=64)
    lifted_at: UtcDateTime | None = None


class CaseArchive(CanonicalModel):
    """A closed application's case file, archived once as one self-contained file.

    The row says where the file is and what its SHA-256 is; the audit event it names
    (``audit_seq``, action ``case.archived``) is what makes that hash evidence: the chain is
    anchored outside the store, this table is not. ``personal_data_cleared_at`` is set when the
    retention replaced the application's personal data in the store by pseudonyms (the archive
    keeps the case file as it was at close)."""

    id: int | None = None
    application_no: str = Field(max_length=32)
    closed_as: str = Field(max_length=20, description="why it closed: rejected | paid_and_settled")
    closed_at: UtcDateTime
    file_name: str = Field(max_length=200, description="the file, inside the archive directory")
    sha256: Sha256Hex
    size_bytes: int = Field(ge=0)
    archived_at: UtcDateTime
    audit_seq: int | None = Field(default=None, ge=1, description="its case.archived event")
    personal_data_cleared_at: UtcDateTime | None = None


class AuditVerification(CanonicalModel):
    """One walk of the audit chain and what it found: what ``/metrics`` reports (and the
    alert on a broken chain reads) without walking the chain at every scrape."""

    id: int | None = None
    verified_at: UtcDateTime
    ok: bool
    checked: int = Field(ge=0, description="events verified (before the broken one, if any)")
    broken_seq: int | None = Field(default=None, description="the first event that failed")
    reason: str | None = Field(default=None, max_length=500)
    head_hash: Sha256Hex | None = Field(default=None, description="the newest hash walked")
    verified_by: str = Field(max_length=120)
