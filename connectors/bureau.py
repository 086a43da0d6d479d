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

Every query carries the caller's ``request_ref`` (1-32 characters ``[A-Za-z0-9-]``): the bureau
keeps the answer under it for 7 days, and ``retrieve`` reads it back without another hard
inquiry. That is how a query whose answer was lost (``OutcomeUnknown``) is settled: by reading,
never by asking again. Choosing the reference, and when to retrieve, is the flows' business.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from connectors.config import Masker, SoapConfig
from connectors.evidence import EvidenceStore
from connectors.soap import SoapAnswer, SoapClient
from kernel.calls import CallObserver, ignore_call
from kernel.failures import BusinessAnswer, ContractError
from schemas.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc
from schemas.types import utcnow

REASONS = {"01", "02", "03"}
REQUEST_REF = re.compile(r"[A-Za-z0-9-]{1,32}")
BEIJING = timezone(timedelta(hours=8))
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


def thin_file(subject: str, reason: str) -> BureauReport:
    """The bureau knows nobody by that identifier: an answer, not an error."""
    return BureauReport(subject, reason, True, None, None, utcnow(), None)


def report_from(
    answer: SoapAnswer, subject: str, reason: str, fetched_at: datetime
) -> BureauReport:
    """A report as the bureau sent it, kept raw (by hash) in the evidence store."""
    return BureauReport(
        subject,
        reason,
        False,
        answer.body.findtext(".//{*}reportNo"),
        answer.sha256,
        fetched_at,
        answer.raw,
    )


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
        self,
        kind: SubjectKind,
        subject: str,
        name: str,
        reason: str,
        consent_ref: str,
        request_ref: str,
    ) -> BureauReport:
        """One inquiry, sent now under ``request_ref``: the report, or a thin file when the
        bureau knows nobody by that identifier. Never retried once sent (a hard inquiry is not
        idempotent); a lost answer is ``OutcomeUnknown``, to be settled by ``retrieve``."""
        subject = self.checked(kind, subject, reason)
        self._check_ref(request_ref)
        operation = OPERATIONS[kind]
        try:
            answer = self.call(
                operation.name,
                idempotent=False,
                requestRef=request_ref,
                name=name,
                queryReason=reason,
                consentRef=consent_ref,
                operatorId=self.operator_id,
                **{operation.subject_param: subject},
            )
        except BusinessAnswer as exc:
            if exc.code and exc.code.startswith("Client.SubjectNotFound"):
                return thin_file(subject, reason)
            raise
        return report_from(answer, subject, reason, answer.fetched_at)

    def retrieve(self, request_ref: str, subject: str, reason: str) -> BureauReport | None:
        """The answer the bureau keeps under ``request_ref`` (``RetrieveReport``: a read, no
        hard inquiry), or None when it never received that reference or no longer keeps it.

        ``subject`` and ``reason`` are what the caller queried under that reference: the answer
        must be about that subject (anything else is a contract failure, never a report filed
        under the wrong person), and the reason is not in the answer."""
        self._check_ref(request_ref)
        try:
            answer = self.call("RetrieveReport", idempotent=True, requestRef=request_ref)
        except BusinessAnswer as exc:
            if exc.code and exc.code.startswith("Client.SubjectNotFound"):
                return thin_file(subject, reason)
            if exc.code and exc.code.startswith("Client.RequestNotFound"):
                return None
            raise
        about = answer.body.findtext(".//{*}identity/{*}idNumber") or answer.body.findtext(
            ".//{*}report/{*}uscc"
        )
        if (about or "").upper() != subject.upper():
            raise ContractError(
                f"RetrieveReport {request_ref} answered about another subject",
                system=self.system,
            )
        queried = _queried_at(answer.body.findtext("{*}queriedAt"))
        return report_from(answer, subject, reason, queried or answer.fetched_at)

    def _check_ref(self, request_ref: str) -> None:
        if not REQUEST_REF.fullmatch(request_ref or ""):
            raise ContractError(
                f"request reference {request_ref!r} is not 1-32 characters [A-Za-z0-9-]",
                system=self.system,
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


def _queried_at(text: str | None) -> datetime | None:
    """When the bureau answered the original query (Beijing time, as it prints it): a retrieved
    report is as old as that query, not as the retrieval."""
    try:
        at = datetime.strptime(text or "", "%Y.%m.%d %H:%M:%S").replace(tzinfo=BEIJING)
        return at.astimezone(UTC)
    except ValueError:
        return None
