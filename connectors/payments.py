"""Disbursements as ISO 20022 over SFTP: pain.001.001.09 out, pain.002.001.08 back.

The ``EndToEndId`` is derived from the loan and the tranche, never generated: whatever retries
happen, the same payment carries the same id, and the gateway refuses a second one (DU05) for
90 days. The ``MsgId`` is unique per file. Both messages are checked against the official XSDs
shipped inside installed registry packages (``sepaxml``, ``sepa``), never a hand-written schema.

Where one file stands at the gateway is read, not assumed (``locate``): only a file with its
``.ok`` (or taken into ``.processed``) counts as received; a file renamed into place without
its ``.ok`` is neither received nor lost: the flows complete it (``complete``) or, for a
partial upload, withdraw it (``withdraw``), before anything new is sent.
"""

from __future__ import annotations

import importlib.resources
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path

from lxml import etree
from lxml.builder import ElementMaker

from connectors.sftp import SftpConnector, TakenFile, part_name
from kernel.failures import ContractError
from schemas.lending import Disbursement
from schemas.types import local_day, utcnow

PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.08"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@cache
def official_schema(package: str, name: str) -> etree.XMLSchema:
    """An ISO 20022 XSD as its registry package ships it."""
    return etree.XMLSchema(etree.parse(str(importlib.resources.files(package) / "schemas" / name)))


def end_to_end_id(loan_account: str, tranche: int, instruction: int = 0) -> str:
    """The payment's identity: the same loan, tranche and instruction always give the same id
    (<= 35). Instruction 0 is the first; an operator's re-instruction after a rejection
    (``disburse.reinstruct``) is ``-R<n>``: a new id the gateway has not refused, derived all
    the same, so a retry of the re-instruction can never pay twice either."""
    value = f"{loan_account}-T{tranche:02d}" + (f"-R{instruction}" if instruction else "")
    if len(value) > 35:
        raise ContractError(f"EndToEndId {value!r} is longer than 35 characters")
    return value


_END_TO_END = re.compile(r"^(?P<loan>\S{1,20}?)-T(?P<tranche>\d{2})(?:-R(?P<n>[1-9]\d*))?$")


def parse_end_to_end_id(value: str) -> tuple[str, int, int] | None:
    """Loan account, tranche and instruction of an id ``end_to_end_id`` made; None otherwise."""
    found = _END_TO_END.fullmatch(value.strip())
    if found is None:
        return None
    return found["loan"], int(found["tranche"]), int(found["n"] or 0)


REASONS = {  # ISO 20022 ExternalStatusReason1Code: the codes the gateway answers with
    "AC01": "incorrect account number: the creditor account is unknown at the core",
    "AC04": "closed account number: the creditor account is closed",
    "AM04": "insufficient funds on the debtor account",
    "DU01": "duplicate message: the MsgId was already received",
    "DU05": "duplicate instruction: the EndToEndId was already received within 90 days",
    "FF01": "invalid file format: the file fails the pain.001 XSD",
}


def report_pattern(msg_ids: list[str]) -> str:
    """The names of the gateway's status reports for ``msg_ids`` (``<MsgId>.<n>.pain002.xml``),
    as one whole-name regular expression; group 1 is the report's number."""
    ids = "|".join(re.escape(m) for m in msg_ids) or "(?!)"  # no file in flight: matches nothing
    return rf"(?:{ids})\.([0-9]{{1,9}})\.pain002\.xml"  # ASCII digits: \d takes any script's


def reason_text(code: str | None) -> str:
    """What a status reason code means, for people (an unlisted code is said as such)."""
    if not code:
        return "no reason given"
    return REASONS.get(code, f"reason code {code} (not in the hub's list)")


def new_msg_id(now: datetime | None = None) -> str:
    """Unique per file: time to the second plus randomness (the gateway refuses a repeat)."""
    return f"LH{(now or utcnow()):%Y%m%d%H%M%S}{secrets.token_hex(4).upper()}"


@dataclass(frozen=True)
class Debtor:
    name: str
    account: str
    agent: str


def build_pain001(
    msg_id: str,
    debtor: Debtor,
    payments: list[Disbursement],
    created: datetime | None = None,
    *,
    zone: tzinfo,
) -> bytes:
    """A validated pain.001.001.09 for ``payments`` (all in one currency, one execution day).

    ``ReqdExctnDt`` is a calendar day of the debtor's bank, so it is the day ``created`` falls
    on in the bank's ``zone``: a file made at 07:30 in Shanghai on 5 March (23:30 UTC on the
    4th) asks for the 5th, not for a day the bank has already closed. ``CreDtTm`` stays UTC."""
    if not payments:
        raise ContractError("a payment file needs at least one payment")
    for p in payments:
        if p.end_to_end_id != end_to_end_id(p.loan_account, p.tranche, p.instruction):
            raise ContractError(
                f"{p.end_to_end_id} is not derived from {p.loan_account} tranche {p.tranche} "
                f"instruction {p.instruction}"
            )
    E = ElementMaker(namespace=PAIN001, nsmap={None: PAIN001})
    created = (created or utcnow()).replace(microsecond=0)
    total = sum((p.amount for p in payments), Decimal("0"))
    doc = E.Document(
        E.CstmrCdtTrfInitn(
            E.GrpHdr(
                E.MsgId(msg_id),
                E.CreDtTm(created.isoformat()),
                E.NbOfTxs(str(len(payments))),
                E.CtrlSum(f"{total:.2f}"),
                E.InitgPty(E.Nm(debtor.name)),
            ),
            E.PmtInf(
                E.PmtInfId(f"{msg_id}-1"),
                E.PmtMtd("TRF"),
                E.NbOfTxs(str(len(payments))),
                E.CtrlSum(f"{total:.2f}"),
                E.ReqdExctnDt(E.Dt(local_day(zone, created).isoformat())),
                E.Dbtr(E.Nm(debtor.name)),
                E.DbtrAcct(E.Id(E.Othr(E.Id(debtor.account)))),
                E.DbtrAgt(E.FinInstnId(E.Othr(E.Id(debtor.agent)))),
                *[
                    E.CdtTrfTxInf(
                        E.PmtId(E.EndToEndId(p.end_to_end_id)),
                        E.Amt(E.InstdAmt(f"{p.amount:.2f}", Ccy=p.currency)),
                        E.CdtrAcct(E.Id(E.Othr(E.Id(p.creditor_account)))),
                        E.RmtInf(E.Ustrd(f"loan {p.loan_account} tranche {p.tranche}")),
                    )
                    for p in payments
                ],
            ),
        )
    )
    schema = official_schema("sepaxml", "pain.001.001.09.xsd")
    if not schema.validate(doc):
        raise ContractError(f"pain.001 fails the official XSD: {schema.error_log.last_error}")
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class PaymentStatus:
    end_to_end_id: str
    status: str  # ACCP, ACSC, RJCT
    reason: str | None


@dataclass(frozen=True)
class StatusReport:
    original_msg_id: str
    group_status: str
    group_reason: str | None
    payments: list[PaymentStatus]


def parse_pain002(data: bytes) -> StatusReport:
    """A validated pain.002.001.08 as statuses and reason codes."""
    if b"<!DOCTYPE" in data[:4096]:
        raise ContractError("status report carries a DTD: refused")
    try:
        doc = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ContractError(f"status report is not XML: {exc}") from exc
    schema = official_schema("sepa", "pain.002.001.08.xsd")
    if not schema.validate(doc):
        raise ContractError(f"pain.002 fails the official XSD: {schema.error_log.last_error}")
    ns = {"s": PAIN002}
    group = doc.find("s:CstmrPmtStsRpt/s:OrgnlGrpInfAndSts", ns)
    return StatusReport(
        original_msg_id=group.findtext("s:OrgnlMsgId", namespaces=ns),
        group_status=group.findtext("s:GrpSts", namespaces=ns) or "",
        group_reason=group.findtext("s:StsRsnInf/s:Rsn/s:Cd", namespaces=ns),
        payments=[
            PaymentStatus(
                tx.findtext("s:OrgnlEndToEndId", namespaces=ns),
                tx.findtext("s:TxSts", namespaces=ns),
                tx.findtext("s:StsRsnInf/s:Rsn/s:Cd", namespaces=ns),
            )
            for tx in doc.iterfind(".//s:TxInfAndSts", ns)
        ],
    )


INBOX = "/payments/in"
PROCESSED = "/payments/in/.processed"
OUTBOX = "/payments/out"


class FileAtGateway(StrEnum):
    """Where one of our files stands at the gateway, read from its folders."""

    ABSENT = "absent"  # nothing of it: never uploaded, or its upload never got past the open
    PART = "part"  # only our ``.part``: an upload killed before its rename; never taken
    UNTRIGGERED = "untriggered"  # renamed into place, whole, but no ``.ok``: never taken
    TRIGGERED = "triggered"  # in place with its ``.ok``: the gateway takes it
    PROCESSED = "processed"  # taken into ``.processed``: the gateway has read it

    @property
    def received(self) -> bool:
        return self in (FileAtGateway.TRIGGERED, FileAtGateway.PROCESSED)


class PaymentGatewayConnector:
    def __init__(
        self, sftp: SftpConnector, debtor: Debtor, local_dir: Path, *, zone: tzinfo
    ) -> None:
        self.system = sftp.system
        self.sftp = sftp
        self.debtor = debtor
        self.local_dir = local_dir
        self.zone = zone  # the debtor bank's: its calendar dates the execution day

    def send(self, payments: list[Disbursement], msg_id: str | None = None) -> str:
        """Build, validate and upload one file (then its ``.ok``); returns its MsgId."""
        msg_id = msg_id or new_msg_id()
        self.sftp.put_bytes(
            build_pain001(msg_id, self.debtor, payments, zone=self.zone),
            INBOX,
            f"{msg_id}.xml",
            trigger=True,
        )
        return msg_id

    def locate(self, msg_id: str) -> FileAtGateway:
        """Where the file ``msg_id`` stands. The gateway takes a file by moving it to
        ``.processed`` and then removing its ``.ok``; looking at the ``.ok``, then the file,
        then ``.processed``, in that order, never mistakes a file being taken for one that is
        missing or untriggered."""
        name = f"{msg_id}.xml"
        with self.sftp.session("locate") as session:
            triggered = session.exists(f"{INBOX}/{name}.ok")
            in_place = session.exists(f"{INBOX}/{name}")
            if triggered and in_place:
                return FileAtGateway.TRIGGERED
            if in_place:
                return FileAtGateway.UNTRIGGERED
            if any(n.endswith(f"-{name}") for n in session.listdir(PROCESSED)):
                return FileAtGateway.PROCESSED
            if session.exists(f"{INBOX}/{part_name(name)}"):
                return FileAtGateway.PART
        return FileAtGateway.ABSENT

    def received(self, msg_id: str) -> bool:
        """Whether the gateway has the file to process: in its inbox with its ``.ok``, or taken
        into ``.processed``. A file without its ``.ok`` is not received: it is never taken."""
        return self.locate(msg_id).received

    def complete(self, msg_id: str) -> None:
        """Write the ``.ok`` of a file renamed into place without one: the rename is the last
        step of a whole upload, so the file is complete and only its trigger is missing."""
        with self.sftp.session("complete upload") as session:
            session.write_trigger(INBOX, f"{msg_id}.xml")

    def withdraw(self, msg_id: str) -> bool:
        """Remove what a killed upload of ``msg_id`` left before its rename (our ``.part``);
        True if there was one. The gateway never reads a ``.part``: nothing was sent."""
        with self.sftp.session("withdraw upload") as session:
            return session.withdraw_part(INBOX, f"{msg_id}.xml")

    def report_files(self, msg_id: str) -> list[TakenFile]:
        """Every status report file the gateway has written for ``msg_id`` so far, in order,
        downloaded (the flows receipt them; ``parse_pain002`` reads them)."""
        out = []
        with self.sftp.session("take reports") as session:
            names = session.listdir(OUTBOX)
            report_name = re.compile(report_pattern([msg_id]))
            numbered = [(int(m[1]), n) for n in names if (m := report_name.fullmatch(n))]
            for _, name in sorted(numbered):
                taken = self.sftp.take(
                    session,
                    OUTBOX,
                    name,
                    self.local_dir,
                    limit=self.sftp.config.limits.status_report,
                )
                if taken is not None:
                    out.append(taken)
        return out

    def report_deliveries(self) -> dict[str, str]:
        """Every status report in the gateway's outbox with its ``.ok``, name -> delivery
        (``SftpSession.version``): one listing, nothing downloaded."""
        with self.sftp.session("list reports") as session:
            names = set(session.listdir(OUTBOX))
            return {
                n: v
                for n in sorted(names)
                if f"{n}.ok" in names and (v := session.version(f"{OUTBOX}/{n}")) is not None
            }

    def reports(self, msg_id: str) -> list[StatusReport]:
        """Every status report the gateway has written for ``msg_id`` so far, in order."""
        return [parse_pain002(f.path.read_bytes()) for f in self.report_files(msg_id)]
