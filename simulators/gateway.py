"""The core's payment gateway: pain.001.001.09 in ``/payments/in``, pain.002.001.08 out.

Each file is read only after its ``.ok`` and then taken out of the inbox (kept under
``/payments/in/.processed``), validated against the official XSD (shipped by the
``sepaxml`` package), and answered with a status report validated against the official
pain.002 XSD (shipped by the ``sepa`` package): first acceptance (ACCP / RJCT per transaction,
group ACCP, PART or RJCT), then settlement (ACSC) of the accepted ones. A repeated ``MsgId`` is
refused whole (DU01); a repeated ``EndToEndId`` within 90 days is refused (DU05); a closed
creditor account is AC04, an unknown one AC01 (either can be forced per account with the
control ``reject_accounts``), insufficient funds AM04 (control ``insufficient_funds_rate``);
a file failing the XSD is FF01.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import json
import logging
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from simulators.controls import Controls
from simulators.dataset import Dataset, Loan, booked_loan
from simulators.journal import Journal

PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.08"
DUPLICATE_WINDOW = timedelta(days=90)
PROCESSED = ".processed"  # where taken files are kept; read-only to clients
log = logging.getLogger(__name__)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@cache
def schema(package: str, name: str) -> etree.XMLSchema:
    """An official ISO 20022 XSD as shipped inside an installed registry package."""
    path = importlib.resources.files(package) / "schemas" / name
    return etree.XMLSchema(etree.parse(str(path)))


def pain001_schema() -> etree.XMLSchema:
    return schema("sepaxml", "pain.001.001.09.xsd")


def pain002_schema() -> etree.XMLSchema:
    return schema("sepa", "pain.002.001.08.xsd")


def _text(el: etree._Element, path: str) -> str | None:
    found = el.find(path, {"p": PAIN001})
    return None if found is None else (found.text or "").strip()


_LOAN_REMITTANCE = re.compile(r"loan (?P<loan>[A-Z0-9-]{1,20}) tranche \d+")


def _account(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return _text(el, "p:Id/p:Othr/p:Id") or _text(el, "p:Id/p:IBAN")


class PaymentGateway:
    def __init__(
        self,
        root: Path,
        dataset: Dataset,
        controls: Controls,
        journal: Journal,
        state_file: Path | None = None,
    ) -> None:
        self.inbox, self.outbox = root / "payments" / "in", root / "payments" / "out"
        self.data = dataset
        self.controls = controls
        self.journal = journal
        self.state_file = state_file
        state = json.loads(state_file.read_text()) if state_file and state_file.exists() else {}
        self.msg_ids: set[str] = set(state.get("msg_ids", []))
        self.end_to_end: dict[str, str] = state.get("end_to_end", {})
        # what the core booked from accepted payments: EndToEndId -> loan, customer, amount, day
        self.booked: dict[str, dict[str, str]] = state.get("booked", {})

    def _save(self) -> None:
        if self.state_file is not None:
            state = {
                "msg_ids": sorted(self.msg_ids),
                "end_to_end": self.end_to_end,
                "booked": self.booked,
            }
            self.state_file.write_text(json.dumps(state))

    def booked_loans(self, as_of: date) -> list[Loan]:
        """The loans the core booked from the payments it accepted (tranches of one loan
        summed), as they stand on ``as_of``: the remittance line names the loan account."""
        loans: dict[str, dict[str, Any]] = {}
        for entry in self.booked.values():
            loan = loans.setdefault(
                entry["loan_account"],
                {"customer_no": entry["customer_no"], "principal": Decimal(0), "start": None},
            )
            loan["principal"] += Decimal(entry["amount"])
            day = date.fromisoformat(entry["booked_on"])
            loan["start"] = min(loan["start"] or day, day)
        return [
            booked_loan(
                self.data.seed, account, v["customer_no"], v["principal"], v["start"], as_of
            )
            for account, v in sorted(loans.items())
            if v["start"] <= as_of
        ]

    async def run(self, poll_seconds: float = 0.1) -> None:
        """Take each triggered file out of the inbox (into ``.processed``) and answer it."""
        while True:
            try:
                self.take_files()
            except Exception:  # whatever a client left in the inbox, keep serving
                log.exception("payment gateway: polling failed")
            await asyncio.sleep(poll_seconds)

    def take_files(self) -> None:
        processed = self.inbox / PROCESSED
        processed.mkdir(exist_ok=True)
        for trigger in sorted(self.inbox.glob("*.xml.ok")):
            file = trigger.with_suffix("")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            kept = processed / f"{stamp}-{file.name}"
            if file.is_file():
                file.replace(kept)
            trigger.unlink(missing_ok=True)
            asyncio.get_running_loop().create_task(self.process(file.name, kept))

    async def process(self, name: str, kept: Path) -> None:
        try:
            await self._process(name, kept)
        except Exception:
            log.exception("payment gateway: could not answer %s", name)
            self.journal.record("gateway", "error", file=name)

    async def _process(self, name: str, kept: Path) -> None:
        data = kept.read_bytes() if kept.is_file() else b""
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.sleep(self.controls.seconds("gateway", "answer", "answer_delay"))
        report, accepted = self.assess(name, data, digest)
        stem = name.removesuffix(".xml")
        self._write(stem, self.status_report(report, settled=False))
        if accepted:
            await asyncio.sleep(self.controls.seconds("gateway", "answer", "settle_delay"))
            self._write(stem, self.status_report(report, settled=True))
            for tx in report["transactions"]:
                if tx["status"] == "ACCP":
                    self.journal.record(
                        "gateway",
                        "settled",
                        msg_id=report["msg_id"],
                        end_to_end_id=tx["end_to_end_id"],
                    )

    def _write(self, stem: str, body: bytes) -> None:
        """Reports for one file name are numbered in order: ``<stem>.<n>.pain002.xml``."""
        n = 1 + sum(1 for _ in self.outbox.glob(f"{stem}.*.pain002.xml"))
        name = f"{stem}.{n}.pain002.xml"
        (self.outbox / name).write_bytes(body)
        (self.outbox / f"{name}.ok").write_bytes(b"")

    def assess(self, name: str, data: bytes, digest: str) -> tuple[dict[str, Any], bool]:
        """Decide every transaction's status; journal the file and each payment."""
        report: dict[str, Any] = {
            "msg_id": None,
            "group": "RJCT",
            "reason": None,
            "transactions": [],
            "n": 0,
            "sum": "0",
        }

        def refuse(reason: str, **detail: Any) -> tuple[dict[str, Any], bool]:
            report["reason"] = reason
            self.journal.record(
                "gateway",
                "file",
                file=name,
                sha256=digest,
                status="RJCT",
                reason=reason,
                msg_id=report["msg_id"],
                **detail,
            )
            return report, False

        try:
            doc = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            return refuse("FF01", detail=f"not XML: {exc}")
        report["msg_id"] = _text(doc, "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId")
        if not pain001_schema().validate(doc):
            return refuse("FF01", detail=str(pain001_schema().error_log.last_error))
        msg_id = report["msg_id"]
        report["n"] = len(doc.findall("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", {"p": PAIN001}))
        if msg_id in self.msg_ids:
            return refuse("DU01")
        self.msg_ids.add(msg_id)
        now = datetime.now(UTC)
        accepted = 0
        for pmt in doc.iterfind("p:CstmrCdtTrfInitn/p:PmtInf", {"p": PAIN001}):
            pmt_inf_id = _text(pmt, "p:PmtInfId") or msg_id
            for tx in pmt.iterfind("p:CdtTrfTxInf", {"p": PAIN001}):
                e2e = _text(tx, "p:PmtId/p:EndToEndId") or ""
                amount = Decimal(_text(tx, "p:Amt/p:InstdAmt") or "0")
                creditor = _account(tx.find("p:CdtrAcct", {"p": PAIN001}))
                status, reason = self._decide(e2e, creditor, now)
                if status == "ACCP":
                    accepted += 1
                    self.end_to_end[e2e] = now.isoformat()
                    self._book(e2e, tx, creditor, amount, now.date())
                report["transactions"].append(
                    {
                        "pmt_inf_id": pmt_inf_id,
                        "end_to_end_id": e2e,
                        "status": status,
                        "reason": reason,
                    }
                )
                report["sum"] = str(Decimal(report["sum"]) + amount)
                self.journal.record(
                    "gateway",
                    "payment",
                    msg_id=msg_id,
                    end_to_end_id=e2e,
                    amount=str(amount),
                    creditor_account=creditor,
                    status=status,
                    reason=reason,
                )
        self._save()
        report["group"] = "ACCP" if accepted == report["n"] else "PART" if accepted else "RJCT"
        self.journal.record(
            "gateway",
            "file",
            file=name,
            sha256=digest,
            status=report["group"],
            msg_id=msg_id,
            transactions=report["n"],
        )
        return report, accepted > 0

    def _book(
        self, e2e: str, tx: etree._Element, creditor: str | None, amount: Decimal, day: date
    ) -> None:
        """The core books the disbursement against the loan its remittance line names."""
        named = _LOAN_REMITTANCE.fullmatch(_text(tx, "p:RmtInf/p:Ustrd") or "")
        holder = self.data.holder_of_account.get(creditor or "")
        if named is not None and holder is not None:
            self.booked[e2e] = {
                "loan_account": named["loan"],
                "customer_no": holder.customer_no,
                "amount": str(amount),
                "booked_on": day.isoformat(),
            }

    def _decide(self, e2e: str, creditor: str | None, now: datetime) -> tuple[str, str | None]:
        seen = self.end_to_end.get(e2e)
        if seen and now - datetime.fromisoformat(seen) < DUPLICATE_WINDOW:
            return "RJCT", "DU05"
        forced = (self.controls.get("gateway", "answer", "reject_accounts") or {}).get(creditor)
        if forced:  # closed or moved at the core since the hub's extract (controls)
            return "RJCT", forced
        account = self.data.account_by_no.get(creditor or "")
        if account is None:
            return "RJCT", "AC01"
        if account.status == "CLOSED":
            return "RJCT", "AC04"
        if self.controls.chance("gateway", "answer", "insufficient_funds_rate"):
            return "RJCT", "AM04"
        return "ACCP", None

    def status_report(self, report: dict[str, Any], *, settled: bool) -> bytes:
        """A pain.002.001.08 CstmrPmtStsRpt; validated against the official XSD before writing."""
        E = ElementMaker(namespace=PAIN002, nsmap={None: PAIN002})
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        original = report["msg_id"] or "UNKNOWN"
        suffix = "S" if settled else "A"
        group = E(
            "OrgnlGrpInfAndSts", E("OrgnlMsgId", original), E("OrgnlMsgNmId", "pain.001.001.09")
        )
        group.append(E("OrgnlNbOfTxs", str(report["n"])))
        group.append(E("GrpSts", "ACSC" if settled else report["group"]))
        if report["reason"]:
            group.append(E("StsRsnInf", E("Rsn", E("Cd", report["reason"]))))
        body = E(
            "CstmrPmtStsRpt",
            E("GrpHdr", E("MsgId", f"STS{original}{suffix}"[:35]), E("CreDtTm", now)),
            group,
        )
        blocks: dict[str, etree._Element] = {}  # one OrgnlPmtInfAndSts per original PmtInf
        for tx in report["transactions"]:
            if settled and tx["status"] != "ACCP":
                continue
            if tx["pmt_inf_id"] not in blocks:
                blocks[tx["pmt_inf_id"]] = E(
                    "OrgnlPmtInfAndSts", E("OrgnlPmtInfId", tx["pmt_inf_id"])
                )
                body.append(blocks[tx["pmt_inf_id"]])
            el = E(
                "TxInfAndSts",
                E("OrgnlEndToEndId", tx["end_to_end_id"]),
                E("TxSts", "ACSC" if settled else tx["status"]),
            )
            if tx["reason"]:
                el.append(E("StsRsnInf", E("Rsn", E("Cd", tx["reason"]))))
            blocks[tx["pmt_inf_id"]].append(el)
        doc = E("Document", body)
        pain002_schema().assertValid(doc)
        return etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
