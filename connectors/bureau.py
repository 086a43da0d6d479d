"""The credit bureau: personal and enterprise reports, each queried at most once.

Every query is a hard inquiry on the subject's report, so the connector never sends one
without a recorded consent for that reason, and never twice for the same application, subject
and reason: an answer younger than 30 days is reused, and a work item guards the call so that
concurrent runs query once. An unknown subject is a thin file (an answer), not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from connectors.config import Masker, SoapConfig
from connectors.evidence import EvidenceStore
from connectors.soap import SoapClient
from kernel.calls import CallObserver, ignore_call
from kernel.failures import BusinessAnswer, ContractError, OnceGuard
from schemas.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc
from schemas.types import utcnow

REPORT_VALIDITY = timedelta(days=30)
REASONS = {"01", "02", "03"}


class ConsentMissing(BusinessAnswer):
    """No recorded consent of the subject for this reason: nothing was sent."""


class ConsentBook(Protocol):
    def require(self, subject: str, scope: str, reason: str) -> str:
        """The consent reference to send, or ``ConsentMissing`` once the refusal is recorded."""


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


class BureauConnector(SoapClient):
    system = "bureau"

    def __init__(
        self,
        config: SoapConfig,
        mask: Masker,
        evidence: EvidenceStore,
        consents: ConsentBook,
        guard: OnceGuard,
        operator_id: str = "loanhub",
        *,
        observer: CallObserver = ignore_call,
    ) -> None:
        super().__init__(config, mask, evidence, observer=observer)
        self.store = evidence  # reports are kept raw: the evidence store is required here
        self.consents = consents
        self.guard = guard
        self.operator_id = operator_id

    def personal_report(
        self, application_no: str, id_number: str, name: str, reason: str = "01"
    ) -> BureauReport:
        subject = self._valid(validate_resident_id, id_number)
        return self._report(
            "QueryPersonalReport", "idNumber", application_no, subject, name, reason
        )

    def enterprise_report(
        self, application_no: str, uscc: str, name: str, reason: str = "01"
    ) -> BureauReport:
        subject = self._valid(validate_uscc, uscc)
        return self._report("QueryEnterpriseReport", "uscc", application_no, subject, name, reason)

    def _valid(self, rule: Callable[[str], str], value: str) -> str:
        """A bad checksum is bad input: refused here, before it costs an inquiry."""
        try:
            return rule(value)
        except InvalidIdentifier as exc:
            raise ContractError(str(exc), system=self.system) from exc

    def _report(
        self,
        operation: str,
        subject_param: str,
        application_no: str,
        subject: str,
        name: str,
        reason: str,
    ) -> BureauReport:
        if reason not in REASONS:
            raise ContractError(f"query reason {reason!r} is not 01, 02 or 03", system=self.system)
        consent_ref = self.consents.require(subject, "BUREAU", reason)

        def query() -> dict[str, Any]:
            try:
                answer = self.call(
                    operation,
                    idempotent=False,
                    name=name,
                    queryReason=reason,
                    consentRef=consent_ref,
                    operatorId=self.operator_id,
                    **{subject_param: subject},
                )
            except BusinessAnswer as exc:
                if exc.code and exc.code.startswith("Client.SubjectNotFound"):
                    return {
                        "thin_file": True,
                        "report_no": None,
                        "raw_sha256": None,
                        "fetched_at": utcnow().isoformat(),
                    }
                raise
            report_no = answer.body.findtext(".//{*}reportNo")
            return {
                "thin_file": False,
                "report_no": report_no,
                "raw_sha256": answer.sha256,
                "fetched_at": answer.fetched_at.isoformat(),
            }

        result = self.guard.once(
            "bureau_query",
            f"{application_no}:{subject}:{reason}",
            {
                "application_no": application_no,
                "subject": subject,
                "reason": reason,
                "operation": operation,
            },
            query,
            max_age=REPORT_VALIDITY,
        )
        digest = result.get("raw_sha256")
        return BureauReport(
            subject,
            reason,
            bool(result["thin_file"]),
            result.get("report_no"),
            digest,
            datetime.fromisoformat(result["fetched_at"]),
            self.store.get_raw(digest) if digest else None,
        )
