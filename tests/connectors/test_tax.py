import hashlib
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.sftp import SftpConnector
from connectors.tax import (
    RequestNameTaken,
    TaxExchange,
    TaxQuery,
    parse_answer,
    request_bytes,
    request_name,
)
from kernel.failures import ContractError, LegacyError, TransientError
from tests.connectors.conftest import sftp_config


@pytest.fixture
def tax(sim_endpoints, tmp_path) -> TaxExchange:
    """The exchange as a plain protocol client: an SFTP endpoint and a local folder, no store."""
    return TaxExchange(SftpConnector(sftp_config(sim_endpoints), system="tax"), tmp_path, "LHB001")


def queries(sim_dataset) -> list[TaxQuery]:
    person = next(p for p in sim_dataset.persons if p.tax)
    firm = next(e for e in sim_dataset.enterprises if e.tax)
    return [
        TaxQuery("Q1", "P", person.id_number, person.name, "CNS-1"),
        TaxQuery("Q2", "E", firm.uscc, firm.name, "CNS-2"),
    ]


def wait_for(tax: TaxExchange, name: str, seconds: float = 10):
    """The answer's file, downloaded once the authority has delivered it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        taken = tax.take_answer(name)
        if taken is not None:
            return taken
        time.sleep(0.1)
    raise AssertionError("no answer")


def test_request_file_format_and_refusals(sim_dataset):
    body = request_bytes(queries(sim_dataset))
    text = body.decode("gb18030")
    assert text.startswith("request_id,subject_type,id_or_uscc,name,consent_ref\r\n")
    assert text.endswith("TRL|2\r\n")
    with pytest.raises(ContractError, match="check character"):
        request_bytes([TaxQuery("Q", "P", "110105194912310021", "x", "C")])
    with pytest.raises(ContractError, match="consent"):
        request_bytes([TaxQuery("Q", "P", "11010519491231002X", "x", "")])


def test_submit_take_and_verified_answer(sim, tax, sim_dataset):
    name = tax.submit(queries(sim_dataset), date(2026, 11, 20), 11)
    taken = wait_for(tax, name)
    rows = parse_answer(taken.path.read_bytes())
    assert [r["status"] for r in rows] == ["FOUND", "FOUND"]
    assert taken.name == "TAXR_LHB001_20261120_011.csv"
    assert taken.path.parent == tax.local_dir
    request = sim.journal("tax", "request")[0]
    assert request["file"] == name
    assert request["problem"] is None


def test_a_truncated_answer_fails_its_check_and_the_redelivery_passes(sim, tax, sim_dataset):
    sim.controls({"tax": {"answer": {"fault": "truncated", "times": 1}}})
    name = tax.submit(queries(sim_dataset), date(2026, 11, 20), 12)
    first = wait_for(tax, name)
    with pytest.raises(ContractError, match="truncated answer"):
        parse_answer(first.path.read_bytes())
    assert first.path.exists()  # the refused delivery stays on disk, as evidence
    sim.post("/tax/redeliver", {"request": name})
    deadline = time.monotonic() + 10
    while (second := tax.take_answer(name)).sha256 == first.sha256:
        assert time.monotonic() < deadline, "not redelivered"
        time.sleep(0.1)
    assert len(parse_answer(second.path.read_bytes())) == 2
    assert first.path.exists()
    assert second.path != first.path


def test_answer_trailer_sum_is_checked():
    header = (
        "request_id,status,tax_credit_rating,revenue_y1,revenue_y2,revenue_y3,tax_paid_y1,"
        "tax_paid_y2,tax_paid_y3,arrears_amount,arrears_since,penalty_count"
    )
    row = "Q1,FOUND,A,1.00,1.00,1.00,1.00,1.00,1.00,5.00,20260101,0"
    good = f"{header}\r\n{row}\r\nTRL|1|5.00\r\n".encode("gb18030")
    assert parse_answer(good)[0]["arrears_amount"] == "5.00"
    bad = f"{header}\r\n{row}\r\nTRL|1|6.00\r\n".encode("gb18030")
    with pytest.raises(ContractError, match="arrears sum"):
        parse_answer(bad)
    assert Decimal(parse_answer(good)[0]["revenue_y1"]) == Decimal("1.00")


def test_an_unreadable_trailer_is_a_contract_failure():
    header = (
        "request_id,status,tax_credit_rating,revenue_y1,revenue_y2,revenue_y3,tax_paid_y1,"
        "tax_paid_y2,tax_paid_y3,arrears_amount,arrears_since,penalty_count"
    )
    with pytest.raises(ContractError, match="unreadable"):
        parse_answer(f"{header}\r\nTRL|0|sNaN\r\n".encode("gb18030"))


def test_answered_names_each_delivery_and_waits_past_the_one_seen(sim, tax, sim_dataset):
    sim.controls({"tax": {"answer": {"fault": "truncated", "times": 1}}})
    name = tax.submit(queries(sim_dataset), date(2026, 11, 20), 14)
    deadline = time.monotonic() + 10
    while (first := tax.answered(name)) is None:
        assert time.monotonic() < deadline, "no answer"
        time.sleep(0.05)
    assert tax.answered(name, seen=first) is None  # the same delivery does not wake a wait
    sim.post("/tax/redeliver", {"request": name})
    second = tax.answered(name, seen=first)
    assert second is not None
    assert second != first
    assert tax.answered("TAXQ_LHB001_20261120_99.csv") is None


def test_a_name_the_authority_holds_for_another_request_is_refused(sim, tax, sim_dataset):
    day = date(2026, 8, 8)
    asked = queries(sim_dataset)
    name = tax.submit(asked[:1], day, 21)
    assert tax.submit(asked[:1], day, 21) == name  # the same request again: a retry, allowed
    with pytest.raises(RequestNameTaken, match="holds another request"):
        tax.submit(asked, day, 21)  # another request under that name would get its answer


@pytest.mark.parametrize(
    ("seq", "at", "when", "suffix"),
    [
        (41, "write", "after", ".part"),  # cut off mid-write: only our hidden .part is there
        (42, "rename", "after", ""),  # in place, its .ok never written
        (43, "close", "after", ".ok"),  # triggered, the trigger's answer lost
    ],
)
def test_a_dropped_upload_shows_nothing_partial_and_its_retry_is_answered_once(
    sim, tax, sim_dataset, sim_endpoints, seq, at, when, suffix
):
    """The authority never sees a request without its trigger or a triggered partial one, and
    the retry under the same name leaves exactly one request taken and one ``.ok`` written."""
    day, asked = date(2026, 6, 6), queries(sim_dataset)
    name = request_name("LHB001", day, seq)
    path = f"/inbox/.{name}.part" if suffix == ".part" else f"/inbox/{name}{suffix}"
    sim.controls({"sftp": {"crash": {"at": at, "when": when, "path": path, "times": 1}}})
    with pytest.raises(LegacyError):
        tax.submit(asked, day, seq)
    inbox = Path(sim_endpoints["sftp"]["root"]) / "inbox"
    if (inbox / f"{name}.ok").exists():  # triggered: then the file is whole
        assert (inbox / name).read_bytes() == request_bytes(asked)
    else:
        assert not (inbox / name).exists() or (inbox / name).read_bytes() == request_bytes(asked)
    assert tax.submit(asked, day, seq) == name
    assert [r["status"] for r in parse_answer(wait_for(tax, name).path.read_bytes())] == [
        "FOUND",
        "FOUND",
    ]
    time.sleep(0.3)  # a second request taken would be journaled by now
    taken = [r for r in sim.journal("tax", "request") if r["file"] == name]
    assert len(taken) == 1
    assert taken[0]["problem"] is None
    assert taken[0]["sha256"] == hashlib.sha256(request_bytes(asked)).hexdigest()
    uploads = [u["path"] for u in sim.journal("sftp", "upload")]
    assert uploads.count(f"/inbox/{name}.ok") == 1  # the trigger written once
    assert not (inbox / f".{name}.part").exists()


def test_an_upload_the_server_kept_short_is_never_renamed_or_triggered(
    sim, tax, sim_dataset, sim_endpoints
):
    """A write acknowledged and lost (a full disk the server hid): the size check before the
    rename refuses it, nothing reaches the authority, and the retry is answered once."""
    day, asked, seq = date(2026, 6, 6), queries(sim_dataset), 45
    name = request_name("LHB001", day, seq)
    sim.controls({"sftp": {"write": {"fault": "short", "times": 1}}})
    with pytest.raises(TransientError, match="kept 0 of"):
        tax.submit(asked, day, seq)
    inbox = Path(sim_endpoints["sftp"]["root"]) / "inbox"
    assert not (inbox / name).exists()
    assert not (inbox / f"{name}.ok").exists()
    assert tax.submit(asked, day, seq) == name
    wait_for(tax, name)
    assert [r["file"] for r in sim.journal("tax", "request")] == [name]
