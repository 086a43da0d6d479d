"""The credit bureau (征信): CreditReportService over SOAP, quirks as the catalogue lists.

Dates print as ``YYYY.MM.DD``, amounts as text with thousands separators, absent values are
sometimes a missing element and sometimes an empty one. An unknown subject is the fault
``Client.SubjectNotFound``; every answered query adds a hard inquiry to the subject's report.

Every query carries the client's ``requestRef``. The bureau keeps each answer (the report, or
the SubjectNotFound fault) under it for ``retention_days`` (7; a control of ``RetrieveReport``)
and ``RetrieveReport`` hands it back, journalled as a ``retrieval``, never as another hard
inquiry. A reference it keeps that comes again with a query answers ``Client.DuplicateRequest``
and records nothing; one it never received, or no longer keeps, answers
``Client.RequestNotFound``. A query refused for bad input records nothing and keeps no ref.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from lxml import etree

from simulators import ids
from simulators.controls import Controls
from simulators.dataset import (
    BANK_NAME,
    CreditAccount,
    Dataset,
    Enterprise,
    Inquiry,
    Person,
    PublicRecord,
)
from simulators.journal import Journal
from simulators.soap import SoapFault, SoapService

NAMESPACE = "urn:creditbureau:report:v1"
REASONS = {"01": "贷款审批", "02": "贷后管理", "03": "担保资格审查"}
BEIJING = timezone(timedelta(hours=8))
REQUEST_REF = re.compile(r"[A-Za-z0-9-]{1,32}")
RETENTION_DAYS = 7


@dataclass
class Kept:
    """One answer kept under its request reference: the response element's bytes, or the fault
    it was; ``None`` for both while the query is still being answered."""

    operation: str
    subject: str
    at: datetime
    answer: bytes | None = None
    fault: tuple[str, str] | None = None


def bureau_date(d: date | None) -> str | None:
    return None if d is None else f"{d:%Y.%m.%d}"


def bureau_amount(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:,.2f}"


class Bureau:
    def __init__(
        self, dataset: Dataset, users: dict[str, str], controls: Controls, journal: Journal
    ) -> None:
        self.data = dataset
        self.service = SoapService("bureau", "bureau.wsdl", NAMESPACE, users, controls, journal)
        self.journal = journal
        self._lock = threading.Lock()
        self._report_no = itertools.count(1)
        self._kept: dict[str, Kept] = {}
        self.controls = controls
        required = ("requestRef", "queryReason", "consentRef", "operatorId", "name")
        self.service.operation("QueryPersonalReport", ("idNumber", *required))(self.personal)
        self.service.operation("QueryEnterpriseReport", ("uscc", *required))(self.enterprise)
        self.service.operation("RetrieveReport", ("requestRef",))(self.retrieve)

    # -- quirks ------------------------------------------------------------------------------

    def _optional(self, parent: etree._Element, tag: str, value: str | None, key: str) -> None:
        """An absent value is a missing element for some subjects and an empty one for others."""
        if value is None or value == "":
            if hashlib.sha256(f"{key}:{tag}".encode()).digest()[0] % 2:
                return
            value = ""
        self.service.sub(parent, tag, value)

    def _check(self, params: dict[str, str], subject: str, valid: bool) -> str:
        reason = params["queryReason"]
        if reason not in REASONS:
            raise SoapFault("Client", f"queryReason {reason!r} is not one of 01, 02, 03")
        if not valid:
            raise SoapFault("Client.InvalidIdentifier", f"{subject} fails its checksum")
        return REASONS[reason]

    def _header(self, report: etree._Element) -> None:
        with self._lock:
            n = next(self._report_no)
        self.service.sub(report, "reportNo", f"R{self.data.business_date:%Y%m%d}{n:08d}")
        self.service.sub(
            report, "reportTime", f"{datetime.now(UTC).astimezone(BEIJING):%Y.%m.%d %H:%M:%S}"
        )

    def _accounts(
        self,
        parent: etree._Element,
        wrapper: str,
        tag: str,
        accounts: list[CreditAccount],
        key: str,
    ) -> None:
        box = self.service.sub(parent, wrapper)
        for a in accounts:
            el = self.service.sub(box, tag)
            for name, value in (
                ("accountNo", a.account_no),
                ("accountType", a.type),
                ("institution", a.institution),
                ("status", a.status),
            ):
                self.service.sub(el, name, value)
            k = f"{key}:{a.account_no}"
            self._optional(el, "openDate", bureau_date(a.open_date), k)
            self._optional(el, "creditLimit", bureau_amount(a.credit_limit), k)
            self._optional(el, "balance", bureau_amount(a.balance), k)
            overdue = a.overdue_amount if a.overdue_amount else None
            self._optional(el, "overdueAmount", bureau_amount(overdue), k)
            self.service.sub(el, "status24m", a.status_24m)

    def _inquiries_and_records(
        self,
        report: etree._Element,
        inquiries: list[Inquiry],
        records: list[PublicRecord],
        key: str,
    ) -> None:
        box = self.service.sub(report, "inquiries")
        for q in inquiries:
            el = self.service.sub(box, "inquiry")
            self.service.sub(el, "queryDate", bureau_date(q.date))
            self.service.sub(el, "institution", q.institution)
            self.service.sub(el, "reason", q.reason)
        box = self.service.sub(report, "publicRecords")
        for r in records:
            el = self.service.sub(box, "record")
            self.service.sub(el, "recordType", r.type)
            self.service.sub(el, "recordDate", bureau_date(r.date))
            self._optional(el, "amount", bureau_amount(r.amount), key)
            self._optional(el, "authority", r.authority, key)
            self._optional(el, "description", r.description, key)

    def _hard_inquiry(self, inquiries: list[Inquiry], reason: str) -> None:
        with self._lock:
            inquiries.append(Inquiry(self.data.business_date, BANK_NAME, reason))

    # -- operations --------------------------------------------------------------------------

    def _lookup(
        self,
        operation: str,
        subject: str,
        params: dict[str, str],
        user: str,
        valid: bool,
        party: Person | Enterprise | None,
    ) -> str:
        """Check, journal and find the subject; returns the inquiry reason text."""
        reason = self._check(params, "subject", valid)
        found = party is not None and party.known_to_bureau and party.name == params["name"]
        self.journal.record(
            "bureau",
            "query",
            operation=operation,
            subject=subject,
            reason=params["queryReason"],
            consent_ref=params["consentRef"],
            operator=params["operatorId"],
            request_ref=params["requestRef"],
            user=user,
            found=found,
        )
        if not found or party is None:
            raise SoapFault("Client.SubjectNotFound", "no credit record for this subject")
        self._hard_inquiry(party.inquiries, reason)
        return reason

    # -- request references -------------------------------------------------------------------

    @staticmethod
    def _request_ref(params: dict[str, str]) -> str:
        ref = params["requestRef"]
        if not REQUEST_REF.fullmatch(ref):
            raise SoapFault("Client", "requestRef must be 1-32 characters [A-Za-z0-9-]")
        return ref

    def _retention(self) -> timedelta:
        days = self.controls.get("bureau", "RetrieveReport", "retention_days", RETENTION_DAYS)
        return timedelta(days=float(days))

    def _live(self, ref: str, now: datetime) -> Kept | None:
        """The answer kept under ``ref``, unless its days are over (then it is forgotten)."""
        kept = self._kept.get(ref)
        if kept is not None and now - kept.at >= self._retention():
            del self._kept[ref]
            return None
        return kept

    def _keeping(
        self,
        operation: str,
        subject: str,
        params: dict[str, str],
        answer: Callable[[], etree._Element],
    ) -> etree._Element:
        """Answer a query once per reference and keep the answer under it. The reference is
        reserved before the lookup, so two queries racing with one reference record one."""
        ref = self._request_ref(params)
        now = datetime.now(UTC)
        with self._lock:
            if self._live(ref, now) is not None:
                self.journal.record(
                    "bureau", "duplicate_request", operation=operation, request_ref=ref
                )
                raise SoapFault("Client.DuplicateRequest", f"requestRef {ref} was used before")
            kept = self._kept[ref] = Kept(operation, subject, now)
        try:
            response = answer()
        except SoapFault as fault:
            with self._lock:
                if fault.code == "Client.SubjectNotFound":  # an answer: kept like a report
                    kept.fault = (fault.code, fault.message)
                else:  # refused: nothing was recorded, the reference stays free
                    self._kept.pop(ref, None)
            raise
        except BaseException:
            with self._lock:
                self._kept.pop(ref, None)
            raise
        with self._lock:
            kept.answer = etree.tostring(response)
        return response

    def retrieve(self, params: dict[str, str], user: str) -> etree._Element:
        """The answer kept under ``requestRef``, again, with no new hard inquiry."""
        ref = self._request_ref(params)
        with self._lock:
            kept = self._live(ref, datetime.now(UTC))
        self.journal.record(
            "bureau",
            "retrieval",
            request_ref=ref,
            user=user,
            found=kept is not None,
            operation=None if kept is None else kept.operation,
            subject=None if kept is None else kept.subject,
        )
        if kept is None:
            raise SoapFault("Client.RequestNotFound", f"no answer kept under requestRef {ref}")
        if kept.fault is not None:
            raise SoapFault(*kept.fault)
        if kept.answer is None:
            raise SoapFault("Server.Busy", "the query under this requestRef is still answered")
        response = self.service.element("RetrieveReportResponse")
        self.service.sub(response, "requestRef", ref)
        self.service.sub(response, "queriedAt", f"{kept.at.astimezone(BEIJING):%Y.%m.%d %H:%M:%S}")
        response.append(etree.fromstring(kept.answer))
        return response

    # -- queries ----------------------------------------------------------------------------

    def personal(self, params: dict[str, str], user: str) -> etree._Element:
        rid = params["idNumber"].upper()
        return self._keeping(
            "QueryPersonalReport", rid, params, lambda: self._personal(rid, params, user)
        )

    def enterprise(self, params: dict[str, str], user: str) -> etree._Element:
        code = params["uscc"].upper()
        return self._keeping(
            "QueryEnterpriseReport", code, params, lambda: self._enterprise(code, params, user)
        )

    def _personal(self, rid: str, params: dict[str, str], user: str) -> etree._Element:
        person = self.data.person_by_id.get(rid)
        self._lookup("QueryPersonalReport", rid, params, user, ids.resident_id_ok(rid), person)
        assert person is not None
        response = self.service.element("QueryPersonalReportResponse")
        report = self.service.sub(response, "report")
        self._header(report)
        identity = self.service.sub(report, "identity")
        self.service.sub(identity, "name", person.name)
        self.service.sub(identity, "idNumber", person.id_number)
        self._optional(identity, "gender", person.gender, rid)
        self._optional(identity, "birthDate", bureau_date(person.birth_date), rid)
        self._optional(identity, "mobile", person.mobile, rid)
        self._optional(identity, "address", person.address, rid)
        self._optional(report, "score", None if person.score is None else str(person.score), rid)
        self._accounts(report, "accounts", "account", person.accounts, rid)
        self._inquiries_and_records(report, person.inquiries, person.public_records, rid)
        return response

    def _enterprise(self, code: str, params: dict[str, str], user: str) -> etree._Element:
        firm = self.data.enterprise_by_uscc.get(code)
        self._lookup("QueryEnterpriseReport", code, params, user, ids.uscc_ok(code), firm)
        assert firm is not None
        response = self.service.element("QueryEnterpriseReportResponse")
        report = self.service.sub(response, "report")
        self._header(report)
        self.service.sub(report, "uscc", firm.uscc)
        self.service.sub(report, "name", firm.name)
        self._optional(report, "registeredCapital", bureau_amount(firm.registered_capital), code)
        self._optional(report, "establishDate", bureau_date(firm.established), code)
        self._accounts(report, "facilities", "facility", firm.facilities, code)
        box = self.service.sub(report, "guarantees")
        for g in firm.guarantees:
            el = self.service.sub(box, "guarantee")
            self.service.sub(el, "beneficiary", g.beneficiary)
            self.service.sub(el, "amount", bureau_amount(g.amount))
            self._optional(el, "startDate", bureau_date(g.start_date), code)
            self._optional(el, "endDate", bureau_date(g.end_date), code)
        self._inquiries_and_records(report, firm.inquiries, firm.public_records, code)
        return response
