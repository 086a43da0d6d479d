import io
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.simulators.sftp_clients import paramiko_sftp

HEADER = "request_id,subject_type,id_or_uscc,name,consent_ref"


def request_file(rows: list[str], trailer: str | None = "auto") -> bytes:
    lines = [HEADER, *rows]
    if trailer == "auto":
        lines.append(f"TRL|{len(rows)}")
    elif trailer is not None:
        lines.append(trailer)
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


def exchange(
    endpoints: dict, name: str, body: bytes, *, trigger: bool = True, wait: float = 10.0
) -> list[list[str]] | None:
    """Upload a request (and its trigger); return the answer's lines once its .ok appears."""
    client, sftp = paramiko_sftp(endpoints)
    try:
        sftp.putfo(io.BytesIO(body), f"/inbox/{name}")
        if trigger:
            sftp.putfo(io.BytesIO(b""), f"/inbox/{name}.ok", confirm=False)
        answer = f"/outbox/TAXR_{name.removeprefix('TAXQ_')}"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if f"{answer.rsplit('/', 1)[1]}.ok" in sftp.listdir("/outbox"):
                buf = io.BytesIO()
                sftp.getfo(answer, buf)
                text = buf.getvalue().decode("gb18030")
                assert text.endswith("\r\n")
                return [line.split(",") for line in text.split("\r\n")[:-1]]
            time.sleep(0.05)
        return None
    finally:
        client.close()


def rows_for(sim_dataset) -> tuple[list[str], dict[str, str]]:
    with_tax = next(p for p in sim_dataset.persons if p.tax)
    without = next(p for p in sim_dataset.persons if p.tax is None)
    firm = next(e for e in sim_dataset.enterprises if e.tax)
    wrong = next(c for c in "0123456789X" if c != with_tax.id_number[17])
    mistyped = with_tax.id_number[:17] + wrong  # a check character that is certainly wrong
    rows = [
        f"R1,P,{with_tax.id_number},{with_tax.name},CNS-1",
        f"R2,P,{without.id_number},{without.name},CNS-2",
        f"R3,E,{firm.uscc},{firm.name},CNS-3",
        f"R4,P,{mistyped},{with_tax.name},CNS-4",  # bad checksum
        f"R5,X,{firm.uscc},{firm.name},CNS-5",
    ]
    return rows, {
        "R1": "FOUND",
        "R2": "NOT_FOUND",
        "R3": "FOUND",
        "R4": "REJECTED",
        "R5": "REJECTED",
    }


def test_a_request_is_answered_in_outbox_with_trailer_count_and_sum(
    sim, sim_endpoints, sim_dataset
):
    rows, expected = rows_for(sim_dataset)
    answer = exchange(sim_endpoints, "TAXQ_LHB001_20261120_001.csv", request_file(rows))
    assert answer is not None
    header, *data, trailer = answer
    assert header[:2] == ["request_id", "status"]
    assert {r[0]: r[1] for r in data} == expected
    found = next(r for r in data if r[0] == "R1")
    person = next(p for p in sim_dataset.persons if p.tax)
    assert found[2] == person.tax.rating
    assert Decimal(found[3]) == person.tax.revenue[0]
    count, total = trailer[0].split("|")[1:]
    assert int(count) == len(data)
    assert Decimal(total) == sum(Decimal(r[9]) for r in data if r[9])
    requests = sim.journal("tax", "request")
    assert requests[0]["rows"] == 5
    assert requests[0]["problem"] is None


def test_a_request_without_its_trigger_is_never_read(sim, sim_endpoints, sim_dataset):
    rows, _ = rows_for(sim_dataset)
    answer = exchange(
        sim_endpoints, "TAXQ_LHB001_20261120_002.csv", request_file(rows), trigger=False, wait=1.0
    )
    assert answer is None
    assert sim.journal("tax") == []


@pytest.mark.parametrize("trailer", [None, "TRL|9", "TRL|x"])
def test_a_request_without_a_valid_trailer_is_rejected_whole(
    sim, sim_endpoints, sim_dataset, trailer
):
    rows, _ = rows_for(sim_dataset)
    name = f"TAXQ_LHB001_20261120_{ {None: 101, 'TRL|9': 102, 'TRL|x': 103}[trailer] }.csv"
    answer = exchange(sim_endpoints, name, request_file(rows, trailer))
    assert answer is not None
    assert {r[1] for r in answer[1:-1]} == {"REJECTED"}
    assert sim.journal("tax", "request")[0]["problem"]


def test_truncated_answer_fault(sim, sim_endpoints, sim_dataset):
    sim.controls({"tax": {"answer": {"fault": "truncated", "rate": 1.0}}})
    rows, _ = rows_for(sim_dataset)
    answer = exchange(sim_endpoints, "TAXQ_LHB001_20261120_003.csv", request_file(rows))
    assert answer is not None
    count = int(answer[-1][0].split("|")[1])
    assert count == len(rows)
    assert len(answer) - 2 == len(rows) - 1  # one row short of what the trailer counts


def test_early_answer_fault_shows_a_partial_file_before_its_trigger(
    sim, sim_endpoints, sim_dataset
):
    sim.controls({"tax": {"answer": {"fault": "early_answer", "rate": 1.0, "answer_delay": 0.6}}})
    rows, _ = rows_for(sim_dataset)
    name = "TAXQ_LHB001_20261120_004.csv"
    client, sftp = paramiko_sftp(sim_endpoints)
    seen_without_trigger = None
    try:
        sftp.putfo(io.BytesIO(request_file(rows)), f"/inbox/{name}")
        sftp.putfo(io.BytesIO(b""), f"/inbox/{name}.ok", confirm=False)
        deadline = time.monotonic() + 10
        answer = f"TAXR_{name.removeprefix('TAXQ_')}"
        while time.monotonic() < deadline:
            listing = sftp.listdir("/outbox")
            if answer in listing and f"{answer}.ok" not in listing and seen_without_trigger is None:
                seen_without_trigger = sftp.stat(f"/outbox/{answer}").st_size
            if f"{answer}.ok" in listing:
                final = sftp.stat(f"/outbox/{answer}").st_size
                break
            time.sleep(0.05)
    finally:
        client.close()
    assert seen_without_trigger is not None
    assert seen_without_trigger < final


def test_answers_older_than_the_retention_are_deleted(sim, sim_endpoints):
    outbox = Path(sim_endpoints["sftp"]["root"]) / "outbox"
    old = outbox / "TAXR_LHB001_20261001_009.csv"
    old.write_bytes(b"x")
    eight_days = time.time() - 8 * 86400
    import os

    os.utime(old, (eight_days, eight_days))
    deadline = time.monotonic() + 5
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not old.exists()
    assert sim.journal("tax", "answer_expired")[0]["file"] == old.name


def test_odd_input_is_rejected_row_by_row_and_the_authority_keeps_answering(
    sim, sim_endpoints, sim_dataset
):
    rows, _ = rows_for(sim_dataset)
    odd = ["R9,P,11010519491231002²,某人,CNS-9", "R10,P,short", "R11,E,,,"]
    answer = exchange(sim_endpoints, "TAXQ_LHB001_20261120_201.csv", request_file(odd))
    assert answer is not None
    assert [(r[0], r[1]) for r in answer[1:-1]] == [
        ("R9", "REJECTED"),
        ("R10", "REJECTED"),
        ("R11", "REJECTED"),
    ]
    again = exchange(sim_endpoints, "TAXQ_LHB001_20261120_202.csv", request_file(rows))
    assert again is not None


def test_a_client_cannot_plant_links_or_files_in_the_authoritys_outbox(
    sim, sim_endpoints, sim_dataset
):
    client, sftp = paramiko_sftp(sim_endpoints)
    try:
        with pytest.raises(PermissionError):
            sftp.symlink("/nowhere", "/outbox/TAXR_evil.csv")
        with pytest.raises(PermissionError):
            sftp.putfo(io.BytesIO(b"forged"), "/outbox/TAXR_LHB001_20261120_999.csv")
    finally:
        client.close()
    rows, _ = rows_for(sim_dataset)
    assert exchange(sim_endpoints, "TAXQ_LHB001_20261120_203.csv", request_file(rows))
    assert sim.http.get(f"{sim.url}/health", timeout=10).json()["workers"] == {
        "tax": True,
        "gateway": True,
    }
