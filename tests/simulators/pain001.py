"""A pain.001.001.09 builder for the gateway tests, independent of any hub code."""

from datetime import UTC, datetime
from decimal import Decimal

from lxml import etree
from lxml.builder import ElementMaker

NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"


def pain001(
    msg_id: str, payments: list[tuple[str, Decimal, str]], remittance: dict[str, str] | None = None
) -> bytes:
    """payments: (end_to_end_id, amount, creditor account); ``remittance`` the unstructured
    remittance line by EndToEndId (default: ``loan disbursement <id>``)."""
    E = ElementMaker(namespace=NS, nsmap={None: NS})
    total = sum((a for _, a, _ in payments), Decimal("0"))
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    txs = [
        E.CdtTrfTxInf(
            E.PmtId(E.EndToEndId(e2e)),
            E.Amt(E.InstdAmt(f"{amount:.2f}", Ccy="CNY")),
            E.Cdtr(E.Nm("借款人")),
            E.CdtrAcct(E.Id(E.Othr(E.Id(account)))),
            E.RmtInf(E.Ustrd((remittance or {}).get(e2e, f"loan disbursement {e2e}"))),
        )
        for e2e, amount, account in payments
    ]
    doc = E.Document(
        E.CstmrCdtTrfInitn(
            E.GrpHdr(
                E.MsgId(msg_id),
                E.CreDtTm(now),
                E.NbOfTxs(str(len(payments))),
                E.CtrlSum(f"{total:.2f}"),
                E.InitgPty(E.Nm("领航银行")),
            ),
            E.PmtInf(
                E.PmtInfId(f"{msg_id}-1"),
                E.PmtMtd("TRF"),
                E.NbOfTxs(str(len(payments))),
                E.CtrlSum(f"{total:.2f}"),
                E.ReqdExctnDt(E.Dt(now[:10])),
                E.Dbtr(E.Nm("领航银行")),
                E.DbtrAcct(E.Id(E.Othr(E.Id("LHB0010000000001")))),
                E.DbtrAgt(E.FinInstnId(E.Othr(E.Id("LHB001")))),
                *txs,
            ),
        )
    )
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
