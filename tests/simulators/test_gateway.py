import importlib.resources
import io
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from simulators.controls import validate
from tests.simulators.pain001 import pain001
from tests.simulators.sftp_clients import paramiko_sftp
from tests.simulators.test_extract import decode, fetch

NS = {"s": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.08"}


def official_xsd(package: str, name: str) -> etree.XMLSchema:
    """Loaded here, from the installed registry package, not through the simulator's code."""
    return etree.XMLSchema(etree.parse(str(importlib.resources.files(package) / "schemas" / name)))


def pain001_schema() -> etree.XMLSchema:
    return official_xsd("sepaxml", "pain.001.001.09.xsd")


def pain002_schema() -> etree.XMLSchema:
    return official_xsd("sepa", "pain.002.001.08.xsd")


def send(
    endpoints: dict, msg_id: str, body: bytes, *, reports: int, first: int = 1, wait: float = 10.0
) -> list[etree._Element]:
    """Upload ``<msg_id>.xml`` and its trigger; wait for reports number ``first`` onwards."""
    client, sftp = paramiko_sftp(endpoints)
    try:
        sftp.putfo(io.BytesIO(body), f"/payments/in/{msg_id}.xml")
        # no stat after writing: the gateway may take the trigger before the client looks
        sftp.putfo(io.BytesIO(b""), f"/payments/in/{msg_id}.xml.ok", confirm=False)
        names = [f"{msg_id}.{n}.pain002.xml" for n in range(first, first + reports)]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            listing = set(sftp.listdir("/payments/out"))
            if all(f"{n}.ok" in listing for n in names):
                out = []
                for n in names:
                    buf = io.BytesIO()
                    sftp.getfo(f"/payments/out/{n}", buf)
                    out.append(etree.fromstring(buf.getvalue()))
                return out
            time.sleep(0.05)
        raise AssertionError(f"no status report for {msg_id}")
    finally:
        client.close()


def statuses(report: etree._Element) -> dict[str, tuple[str, str | None]]:
    return {
        tx.findtext("s:OrgnlEndToEndId", namespaces=NS): (
            tx.findtext("s:TxSts", namespaces=NS),
            tx.findtext("s:StsRsnInf/s:Rsn/s:Cd", namespaces=NS),
        )
        for tx in report.iterfind(".//s:TxInfAndSts", NS)
    }


def group(report: etree._Element) -> tuple[str, str | None]:
    return (
        report.findtext(".//s:GrpSts", namespaces=NS),
        report.findtext(".//s:OrgnlGrpInfAndSts/s:StsRsnInf/s:Rsn/s:Cd", namespaces=NS),
    )


def accounts(sim_dataset, status: str) -> list[str]:
    return [
        a.account_no
        for c in sim_dataset.customers
        for a in c.accounts
        if a.type == "deposit" and a.status == status
    ]


def test_our_test_message_is_valid_pain001():
    assert pain001_schema().validate(etree.fromstring(pain001("M1", [("E1", Decimal("1"), "A")])))


def test_accepted_then_settled_and_reports_are_valid_pain002(sim, sim_endpoints, sim_dataset):
    good, closed = accounts(sim_dataset, "ACTIVE")[0], accounts(sim_dataset, "CLOSED")[0]
    body = pain001(
        "MSGA0001",
        [
            ("LN1-T1", Decimal("50000.00"), good),
            ("LN2-T1", Decimal("1000.00"), closed),
            ("LN3-T1", Decimal("10.00"), "NO-SUCH-ACCOUNT"),
        ],
    )
    ack, settled = send(sim_endpoints, "MSGA0001", body, reports=2)
    for report in (ack, settled):
        pain002_schema().assertValid(report)
    assert group(ack) == ("PART", None)
    assert statuses(ack) == {
        "LN1-T1": ("ACCP", None),
        "LN2-T1": ("RJCT", "AC04"),
        "LN3-T1": ("RJCT", "AC01"),
    }
    assert statuses(settled) == {"LN1-T1": ("ACSC", None)}
    payments = sim.journal("gateway", "payment")
    assert [(p["end_to_end_id"], p["status"]) for p in payments] == [
        ("LN1-T1", "ACCP"),
        ("LN2-T1", "RJCT"),
        ("LN3-T1", "RJCT"),
    ]


def test_repeated_msg_id_and_end_to_end_id_are_refused(sim, sim_endpoints, sim_dataset):
    good = accounts(sim_dataset, "ACTIVE")[1]
    send(
        sim_endpoints,
        "MSGB0001",
        pain001("MSGB0001", [("LN9-T1", Decimal("10.00"), good)]),
        reports=2,
    )
    again = pain001("MSGB0001", [("LN9-T2", Decimal("10.00"), good)])
    (ack,) = send(sim_endpoints, "MSGB0001", again, reports=1, first=3)  # same name, re-sent
    assert group(ack) == ("RJCT", "DU01")
    retry = pain001("MSGB0002", [("LN9-T1", Decimal("10.00"), good)])
    (ack,) = send(sim_endpoints, "MSGB0002", retry, reports=1)
    assert statuses(ack) == {"LN9-T1": ("RJCT", "DU05")}
    accepted = [p for p in sim.journal("gateway", "payment") if p["status"] == "ACCP"]
    assert [p["end_to_end_id"] for p in accepted] == ["LN9-T1"]  # paid exactly once
    client, sftp = paramiko_sftp(sim_endpoints)
    try:
        assert "MSGB0001.xml" not in sftp.listdir("/payments/in")  # taken, kept aside
        assert len([n for n in sftp.listdir("/payments/in/.processed") if "MSGB0001" in n]) == 2
    finally:
        client.close()


def test_a_file_failing_the_xsd_is_rejected_ff01(sim, sim_endpoints):
    bad = pain001("MSGC0001", [("E1", Decimal("1.00"), "X")]).replace(
        b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>one</NbOfTxs>"
    )
    (ack,) = send(sim_endpoints, "MSGC0001", bad, reports=1)
    pain002_schema().assertValid(ack)
    assert group(ack) == ("RJCT", "FF01")
    assert "NbOfTxs" in sim.journal("gateway", "file")[0]["detail"]


def test_insufficient_funds_control(sim, sim_endpoints, sim_dataset):
    sim.controls({"gateway": {"answer": {"insufficient_funds_rate": 1.0}}})
    good = accounts(sim_dataset, "ACTIVE")[2]
    (ack,) = send(
        sim_endpoints,
        "MSGD0001",
        pain001("MSGD0001", [("LN7-T1", Decimal("5.00"), good)]),
        reports=1,
    )
    assert statuses(ack) == {"LN7-T1": ("RJCT", "AM04")}


def test_the_core_books_what_the_gateway_accepted_and_reports_its_installments(
    sim, sim_endpoints, sim_dataset
):
    good = accounts(sim_dataset, "ACTIVE")[1]
    body = pain001(
        "MSGBOOK1",
        [("LNBOOK0001-T01", Decimal("120000.00"), good), ("LNBOOK0001-T02", Decimal("1"), "X")],
        remittance={
            "LNBOOK0001-T01": "loan LNBOOK0001 tranche 1",
            "LNBOOK0001-T02": "loan LNBOOK0001 tranche 2",  # refused (AC01): not booked
        },
    )
    send(sim_endpoints, "MSGBOOK1", body, reports=1)
    paid_out = datetime.now(UTC).date()
    night = paid_out + timedelta(days=70)  # two installments have fallen due
    _, every, bad, _ = decode(fetch(sim, sim_endpoints, business_date=night.isoformat()))
    assert bad == []
    # the seeded book's history ends at the data set's business date: only loans booked from
    # payments (this one, and those earlier tests paid out) are due after it
    assert not {r["loan"] for r in every} & {loan.loan_account for loan in sim_dataset.loans}
    rows = [r for r in every if r["loan"] == "LNBOOK0001"]
    holder = sim_dataset.holder_of_account[good].customer_no
    assert {r["customer"] for r in rows} == {int(holder)}
    assert [r["inst"] for r in rows] == [2]  # what fell due in the 31 days up to the night
    due = rows[0]["p_due"] + rows[0]["i_due"]
    assert Decimal("10000") < due < Decimal("11000")  # 120,000 over 12 months at 4.35%
    # the next night tells the same story so far: a borrower's history does not change
    _, next_night, _, _ = decode(
        fetch(sim, sim_endpoints, business_date=(night + timedelta(days=1)).isoformat())
    )
    [before], [after] = rows, [r for r in next_night if r["loan"] == "LNBOOK0001"]
    assert {**after, "dpd": 0} == {**before, "dpd": 0} or before["status"] == "M"


def test_reject_accounts_refuses_a_typo_rather_than_forcing_nothing() -> None:
    """The control forces only the catalogue's account refusals; anything else is refused."""
    validate({"gateway": {"answer": {"reject_accounts": {"6222000000000001": "AC04"}}}})
    validate({"gateway": {"answer": {"reject_accounts": {"6222000000000001": None}}}})
    with pytest.raises(ValueError, match="reject_accounts"):
        validate({"gateway": {"answer": {"reject_accounts": {"6222000000000001": "AM04"}}}})
    with pytest.raises(ValueError, match="reject_accounts"):
        validate({"gateway": {"answer": {"reject_accounts": ["6222000000000001"]}}})
