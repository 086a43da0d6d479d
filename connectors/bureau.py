"""The credit bureau's SOAP service: personal and enterprise reports.

A plain protocol client, as Airflow's hooks are: it sends the one query it is asked for,
with the consent reference it is given, and hands back the report (kept raw, by hash, in the
evidence store) or a thin file. It decides nothing about *whether* to query: consent, "once
per application and reason" and "reuse a report younger than 30 days" are the flows' policy
(``loanhub.flows.harvest.BureauInquiries``).

It still refuses what the bureau's contract forbids before anything is sent (a bad identifier
checksum, a query reason other than 01/02/03), because a query is a hard inquiry on the
subject's file and a malformed one would cost it for nothing. An unknown subject is a thin file
(an answer), not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connectors.config import Masker, SoapConfig
from connectors.evidence import EvidenceStore
from connectors.soap import SoapClient
from kernel.calls import CallObserver, ignore_call
from kernel.failures import BusinessAnswer, ContractError
from schemas.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc
from schemas.types import utcnow

REASONS = {"01", "02", "03"}
SubjectKind = Literal["personal", "enterprise"]


@dataclass(frozen=True)
class Operation:
    name: str
    subject_param: str
    rule: Callable[[str], str]


OPERATIONS: dict[SubjectKind, Operation] = {
    "personal": Operation("QueryPersonalReport", "idNumber", validate_resident_id),
    "enterprise": Operation("QueryEnterpriseReport", "uscc", validate_uscc),
}


@dataclass(frozen=True)
class BureauReport:
    """A report as the bureau sent it (raw XML, by hash in the evidence store), or a thin file."""

    subject: str
    reason: str
    thin_file: bool
    report_no: str | None
    raw_sha256: str | None
    fetched_at: datetime
    raw: bytes | None

    def summary(self) -> dict[str, Any]:
        """What a work item keeps of the report (the raw bytes stay in the evidence store)."""
        return {
            "thin_file": self.thin_file,
            "report_no": self.report_no,
            "raw_sha256": self.raw_sha256,
            "fetched_at": self.fetched_at.isoformat(),
        }


class BureauConnector(SoapClient):
    system = "bureau"

    def __init__(
        self,
        config: SoapConfig,
        mask: Masker,
        evidence: EvidenceStore,
        operator_id: str = "loanhub",
        *,
        observer: CallObserver = ignore_call,
    ) -> None:
        super().__init__(config, mask, evidence, observer=observer)
        self.store = evidence  # reports are kept raw: the evidence store is required here
        self.operator_id = operator_id

    def checked(self, kind: SubjectKind, subject: str, reason: str) -> str:
        """The subject in its canonical form, or ``ContractError`` for what the bureau would
        refuse (a bad checksum, an unknown reason): checked before anything costs an inquiry."""
        if reason not in REASONS:
            raise ContractError(f"query reason {reason!r} is not 01, 02 or 03", system=self.system)
        try:
            return OPERATIONS[kind].rule(subject)
        except InvalidIdentifier as exc:
            raise ContractError(str(exc), system=self.system) from exc

    def query(
        self, kind: SubjectKind, subject: str, name: str, reason: str, consent_ref: str
    ) -> BureauReport:
        """One inquiry, sent now: the report, or a thin file when the bureau knows nobody by
        that identifier. Never retried once sent (a hard inquiry is not idempotent)."""
        subject = self.checked(kind, subject, reason)
        operation = OPERATIONS[kind]
        try:
            answer = self.call(
                operation.name,
                idempotent=False,
                name=name,
                queryReason=reason,
                consentRef=consent_ref,
                operatorId=self.operator_id,
                **{operation.subject_param: subject},
            )
        except BusinessAnswer as exc:
            if exc.code and exc.code.startswith("Client.SubjectNotFound"):
                return BureauReport(subject, reason, True, None, None, utcnow(), None)
            raise
        return BureauReport(
            subject,
            reason,
            False,
            answer.body.findtext(".//{*}reportNo"),
            answer.sha256,
            answer.fetched_at,
            answer.raw,
        )

    def kept(self, subject: str, reason: str, summary: dict[str, Any]) -> BureauReport:
        """A report fetched earlier, rebuilt from its summary and the evidence store's raw copy."""
        digest = summary.get("raw_sha256")
        return BureauReport(
            subject,
            reason,
            bool(summary["thin_file"]),
            summary.get("report_no"),
            digest,
            datetime.fromisoformat(summary["fetched_at"]),
            self.store.get_raw(digest) if digest else None,
        )
