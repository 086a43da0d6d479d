"""``/metrics`` as Prometheus parses it equals what the store holds, and only a scraper with
the token (or a logged-in person) gets it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text

from loanhub.dashboard.app import create_app
from loanhub.dashboard.metrics import BUCKETS_SECONDS, exposition
from loanhub.runtime.settings import HubSettings
from tests.loanhub.dashboard.seed import seed


def samples(engine) -> dict[tuple[str, frozenset], float]:
    parsed = text_string_to_metric_families(exposition(engine).decode())
    return {
        (s.name, frozenset(s.labels.items())): s.value for family in parsed for s in family.samples
    }


def rows(engine, sql: str) -> list:
    with engine.connect() as conn:
        return conn.execute(text(sql)).all()


def test_the_metrics_are_the_stores_numbers(pg_engine, tmp_path: Path):
    seed(pg_engine, tmp_path / "screens")
    got = samples(pg_engine)
    families = {name for name, _ in got}
    for table in (
        "source_call",
        "work_item",
        "early_warning",
        "file_receipt",
        "quarantined_record",
    ):
        assert rows(pg_engine, f"SELECT count(*) FROM {table}")[0][0] > 0  # nothing vacuous
    assert {
        "loanhub_source_calls_total",
        "loanhub_source_call_duration_seconds_bucket",
        "loanhub_work_items",
        "loanhub_warnings_raised_total",
        "loanhub_file_records_loaded_total",
        "loanhub_records_quarantined_total",
    } <= families

    for system, outcome, n in rows(
        pg_engine, "SELECT system, outcome, count(*) FROM source_call GROUP BY 1, 2"
    ):
        labels = frozenset({"system": system, "outcome": outcome}.items())
        assert got[("loanhub_source_calls_total", labels)] == n
        if outcome not in ("ok", "business"):
            kind = frozenset({"system": system, "kind": outcome}.items())
            assert got[("loanhub_source_call_errors_total", kind)] == n
    assert (
        "loanhub_source_call_errors_total",
        frozenset({"system": "core", "kind": "ok"}.items()),
    ) not in got

    for system, n, total_ms in rows(
        pg_engine, "SELECT system, count(*), sum(duration_ms) FROM source_call GROUP BY 1"
    ):
        of = {"system": system}
        assert got[("loanhub_source_call_duration_seconds_count", frozenset(of.items()))] == n
        assert got[
            ("loanhub_source_call_duration_seconds_sum", frozenset(of.items()))
        ] == pytest.approx(total_ms / 1000)
        for bound in BUCKETS_SECONDS:
            (within,) = rows(
                pg_engine,
                f"SELECT count(*) FROM source_call WHERE system = '{system}' "
                f"AND duration_ms <= {bound * 1000}",
            )[0]
            bucket = frozenset({**of, "le": str(bound)}.items())
            assert got[("loanhub_source_call_duration_seconds_bucket", bucket)] == within

    for kind, state, n in rows(
        pg_engine, "SELECT kind, state, count(*) FROM work_item GROUP BY 1, 2"
    ):
        assert got[("loanhub_work_items", frozenset({"kind": kind, "state": state}.items()))] == n

    for rule, severity, n, still in rows(
        pg_engine,
        "SELECT rule, severity, count(*), count(*) FILTER (WHERE acknowledged_at IS NULL) "
        "FROM early_warning GROUP BY 1, 2",
    ):
        of = frozenset({"rule": rule, "severity": severity}.items())
        assert got[("loanhub_warnings_raised_total", of)] == n
        assert got[("loanhub_warnings_open", of)] == still

    for system, loaded in rows(
        pg_engine, "SELECT source_system, sum(records_loaded) FROM file_receipt GROUP BY 1"
    ):
        of = frozenset({"system": system}.items())
        assert got[("loanhub_file_records_loaded_total", of)] == loaded
    for system, n in rows(
        pg_engine, "SELECT source_system, count(*) FROM quarantined_record GROUP BY 1"
    ):
        assert (
            got[("loanhub_records_quarantined_total", frozenset({"system": system}.items()))] == n
        )


def test_a_scraper_needs_the_token(pg_url, tmp_path: Path):
    settings = HubSettings(
        data_dir=tmp_path, database_url=pg_url, dashboard={"metrics_token": SecretStr("scrape-me")}
    )
    client = TestClient(create_app(settings))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200
    assert "loanhub_source_call_duration_seconds_bucket" in scraped.text
