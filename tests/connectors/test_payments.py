import time
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from connectors.payments import (
    Debtor,
    FileAtGateway,
    PaymentGatewayConnector,
    build_pain001,
    end_to_end_id,
    parse_pain002,
)
from connectors.sftp import SftpConnector
from kernel.failures import ContractError, OutcomeUnknown, TransientError
from schemas.base import Lineage
from schemas.lending import Disbursement
from schemas.types import utcnow
from tests.connectors.conftest import sftp_config

BANK = ZoneInfo("Asia/Shanghai")

DEBTOR = Debtor("领航银行", "LHB0010000000001", "LHB001")


def disbursement(loan: str, tranche: int, account: str, amount: str = "1000.00") -> Disbursement:
    return Disbursement(
        loan_account=loan,
        tranche=tranche,
        amount=Decimal(amount),
        creditor_account=account,
        end_to_end_id=end_to_end_id(loan, tranche),
        requested_at=utcnow(),
        lineage=Lineage(
            source_system="loanhub",
            fetched_at=utcnow(),
            mapping_version="t",
            raw_payload_hash="0" * 64,
        ),
    )


@pytest.fixture
def gateway(sim_endpoints, tmp_path) -> PaymentGatewayConnector:
    return PaymentGatewayConnector(
        SftpConnector(sftp_config(sim_endpoints), system="gateway"),
        DEBTOR,
        tmp_path / "payments",
        zone=BANK,
    )


def active_account(sim_dataset, n: int) -> str:
    return [
        a.account_no
        for c in sim_dataset.customers
        for a in c.accounts
        if a.type == "deposit" and a.status == "ACTIVE"
    ][n]


def wait_reports(gateway, msg_id, count, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reports = gateway.reports(msg_id)
        if len(reports) >= count:
            return reports
        time.sleep(0.1)
    raise AssertionError(f"{count} reports for {msg_id} never came")


def test_end_to_end_id_is_derived_not_generated():
    assert end_to_end_id("LN000000000000000042", 1) == "LN000000000000000042-T01"
    assert end_to_end_id("LN000000000000000042", 1) == end_to_end_id("LN000000000000000042", 1)


def test_a_pain001_that_fails_the_xsd_is_never_uploaded(sim, sim_endpoints, tmp_path):
    long_name = Debtor("银" * 141, DEBTOR.account, DEBTOR.agent)  # Max140Text in the XSD
    gateway = PaymentGatewayConnector(
        SftpConnector(sftp_config(sim_endpoints), system="gateway"), long_name, tmp_path, zone=BANK
    )
    with pytest.raises(ContractError, match="official XSD"):
        gateway.send([disbursement("LN1", 1, "6222000000000001")])
    assert sim.journal("sftp", "upload") == []


def test_a_file_made_at_0730_in_shanghai_asks_to_execute_that_day_not_utcs():
    """07:30 on 5 March in Shanghai is 23:30 UTC on the 4th: the bank asks for the 5th (its
    own calendar day); the creation time stays UTC."""
    made = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    doc = etree.fromstring(
        build_pain001("M1", DEBTOR, [disbursement("LN1", 1, "X")], made, zone=BANK)
    )
    assert doc.findtext(".//{*}ReqdExctnDt/{*}Dt") == "2026-03-05"
    assert doc.findtext(".//{*}CreDtTm") == "2026-03-04T23:30:00+00:00"


def test_a_tampered_end_to_end_id_is_refused(sim_dataset):
    d = disbursement("LN1", 1, "X").model_copy(update={"end_to_end_id": "RANDOM-1"})
    with pytest.raises(ContractError, match="not derived"):
        build_pain001("M1", DEBTOR, [d], zone=BANK)


def test_send_and_read_statuses_then_a_retry_cannot_pay_twice(sim, gateway, sim_dataset):
    pay = disbursement("LN000000000000000777", 1, active_account(sim_dataset, 3), "25000.00")
    msg_id = gateway.send([pay])
    ack, settled = wait_reports(gateway, msg_id, 2)
    assert (ack.group_status, [(p.end_to_end_id, p.status) for p in ack.payments]) == (
        "ACCP",
        [(pay.end_to_end_id, "ACCP")],
    )
    assert [p.status for p in settled.payments] == ["ACSC"]
    retry = gateway.send([pay])  # a new file, a new MsgId, the same payment
    (answer,) = wait_reports(gateway, retry, 1)
    assert [(p.status, p.reason) for p in answer.payments] == [("RJCT", "DU05")]
    accepted = [p for p in sim.journal("gateway", "payment") if p["status"] == "ACCP"]
    assert [p["end_to_end_id"] for p in accepted] == [pay.end_to_end_id]


def test_a_hostile_status_report_is_refused():
    with pytest.raises(ContractError):
        parse_pain002(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    with pytest.raises(ContractError, match="official XSD"):
        parse_pain002(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.08"/>')


def test_a_file_without_its_ok_is_not_received_until_completed(sim, gateway, sim_dataset):
    pay = disbursement("LN000000000000000778", 1, active_account(sim_dataset, 4))
    sim.controls(
        {"sftp": {"crash": {"at": "rename", "when": "after", "path": "/payments/in/*.xml"}}}
    )
    with pytest.raises(OutcomeUnknown):
        gateway.send([pay], "LHUNTRIGGERED0001")
    time.sleep(0.3)  # the gateway polls its inbox: an untriggered file is never taken
    assert gateway.locate("LHUNTRIGGERED0001") is FileAtGateway.UNTRIGGERED
    assert gateway.received("LHUNTRIGGERED0001") is False
    gateway.complete("LHUNTRIGGERED0001")
    ack, _ = wait_reports(gateway, "LHUNTRIGGERED0001", 2)
    assert [p.status for p in ack.payments] == ["ACCP"]
    assert gateway.locate("LHUNTRIGGERED0001") is FileAtGateway.PROCESSED
    assert gateway.received("LHUNTRIGGERED0001") is True


def test_a_partial_upload_is_located_and_withdrawn(sim, gateway, sim_dataset):
    pay = disbursement("LN000000000000000779", 1, active_account(sim_dataset, 5))
    sim.controls({"sftp": {"crash": {"at": "write", "when": "after", "path": "/payments/in/.*"}}})
    with pytest.raises(TransientError):
        gateway.send([pay], "LHPARTIAL00000001")
    assert gateway.locate("LHPARTIAL00000001") is FileAtGateway.PART
    assert gateway.withdraw("LHPARTIAL00000001") is True
    assert gateway.locate("LHPARTIAL00000001") is FileAtGateway.ABSENT
    assert sim.journal("gateway", "file") == []
