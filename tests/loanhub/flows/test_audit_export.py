"""What an export covers: the bank's days (midnight in Shanghai, not UTC) as one unbroken
piece of the chain, or every event that names an application or one of its loans, as a whole
word; each export sealed by an event of the chain itself."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from contracts.audit_export import verify_export
from loanhub.flows.audit_export import ExportRefused, export_application, export_range
from loanhub.platform import audit
from tests.loanhub.auditchain import forge
from tests.loanhub.casebook import add_application, decide, lend, long_ago, person

SHANGHAI = ZoneInfo("Asia/Shanghai")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_range_is_the_banks_days_inclusive(engine: Engine, tmp_path: Path) -> None:
    midnight = datetime(2026, 3, 1, tzinfo=SHANGHAI).astimezone(UTC)  # 2026-02-28 16:00Z
    second = timedelta(seconds=1)
    forge(
        engine,
        [
            (midnight - second, "before", None),
            (midnight, "first", None),
            (midnight + timedelta(days=1) - second, "last of the 1st", None),
            (midnight + timedelta(days=2) - second, "last of the 2nd", None),
            (midnight + timedelta(days=2), "after", None),
        ],
    )
    one_day = export_range(
        engine, date(2026, 3, 1), date(2026, 3, 1), SHANGHAI, tmp_path / "d1.jsonl", actor="t"
    )
    both = export_range(
        engine, date(2026, 3, 1), date(2026, 3, 2), SHANGHAI, tmp_path / "d2.jsonl", actor="t"
    )
    subjects = [line["event"]["subject"] for line in lines(one_day.path)[1:-1]]
    assert subjects == ["first", "last of the 1st"]
    assert [line["event"]["subject"] for line in lines(both.path)[1:-1]] == [
        "first",
        "last of the 1st",
        "last of the 2nd",
    ]
    header = lines(one_day.path)[0]
    assert header["prev_hash"] == lines(both.path)[1]["event"]["prev_hash"]  # event 1's hash
    assert header["scope"] == {
        "kind": "range",
        "from": "2026-03-01",
        "to": "2026-03-01",
        "time_zone": "Asia/Shanghai",
    }
    assert verify_export(one_day.path).count == 2
    assert verify_export(both.path).count == 3
    # each export is itself an event of the chain: the chain stays whole
    assert audit.verify(engine).ok
    assert audit.head(engine)[0] == 5 + 2


def test_an_empty_range_still_exports_and_verifies(pg_engine: Engine, tmp_path: Path) -> None:
    forge(pg_engine, [(datetime(2026, 3, 1, 12, tzinfo=UTC), "x", None)])
    done = export_range(
        pg_engine, date(2025, 1, 1), date(2025, 1, 31), SHANGHAI, tmp_path / "e.jsonl", actor="t"
    )
    assert done.count == 0
    assert verify_export(done.path).count == 0


def test_an_application_is_every_event_naming_it_or_its_loans(
    engine: Engine, tmp_path: Path
) -> None:
    at = long_ago(10)
    add_application(engine, "AP1", person(), status="DISBURSED", at=at)
    add_application(engine, "AP10", person(), status="REJECTED", at=at)
    decide(engine, "AP1", "APPROVE", at)
    account = lend(engine, "AP1", person(), at, paid=0)
    forge(
        engine,
        [
            (at, "AP1", {"state": "APPROVED"}),
            (at, "AP10", None),  # another application, whose number starts the same
            (at, "intake.json", {"applications": ["AP2", "AP10"]}),
            (at, f"{account}-T01", {"status": "ACSC"}),  # its tranche
            (at, "los_decision:AP1", None),
            (at, "warning", {"loan": account, "rule": "dpd"}),
            (at, "AP2", None),
        ],
    )
    done = export_application(engine, "AP1", tmp_path / "ap1.jsonl", actor="t")
    body = lines(done.path)
    assert [line["event"]["seq"] for line in body[1:-1]] == [1, 4, 5, 6]
    assert body[0]["contiguous"] is False
    assert body[0]["scope"]["application"] == "AP1"
    assert body[1]["next"]["prev_hash"] == body[1]["event"]["hash"]  # its neighbour's link
    report = verify_export(done.path)
    assert (report.count, report.first_seq, report.last_seq) == (4, 1, 6)
    assert body[-1]["seal"]["action"] == "audit.exported"


def test_an_unknown_application_is_refused(pg_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ExportRefused, match="no application AP404"):
        export_application(pg_engine, "AP404", tmp_path / "x.jsonl", actor="t")
    with pytest.raises(ExportRefused, match="not an application number"):
        export_application(pg_engine, "AP1%", tmp_path / "x.jsonl", actor="t")
    assert not (tmp_path / "x.jsonl").exists()
    assert audit.head(pg_engine)[0] == 0  # nothing sealed
