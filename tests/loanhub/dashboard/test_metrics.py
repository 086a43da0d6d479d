"""``/metrics`` as Prometheus parses it: the counters are the store's running totals, which no
purge lowers; the gauges are what the store holds now; ``promtool check
metrics`` accepts a real scrape; and only a scraper with the token (or a person) gets it."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import delete, insert, text
from typer.testing import CliRunner

from kernel.calls import CallOutcome, SourceCall
from loanhub.cli import app as cli
from loanhub.dashboard.app import create_app
from loanhub.dashboard.metrics import BUCKETS_SECONDS, exposition
from loanhub.platform.calls import CallJournal
from loanhub.platform.early_warnings import raise_once
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from schemas.base import Lineage
from schemas.hub import FileState
from schemas.lending import EarlyWarning
from schemas.profile import ApplicantProfile
from schemas.tables import (
    applicant_profile,
    application,
    audit_event,
    early_warning,
    fact_row,
    quarantined_record,
)
from tests.deploy.test_prometheus_rules import PROMTOOL
from tests.loanhub.dashboard.seed import seed

runner = CliRunner()
Samples = dict[tuple[str, frozenset], float]


def samples(engine) -> Samples:
    parsed = text_string_to_metric_families(exposition(engine).decode())
    return {
        (s.name, frozenset(s.labels.items())): s.value for family in parsed for s in family.samples
    }


def of(**labels: str) -> frozenset:
    return frozenset(labels.items())


def rows(engine, sql: str) -> list:
    with engine.connect() as conn:
        return conn.execute(text(sql)).all()


def counters(got: Samples) -> Samples:
    return {k: v for k, v in got.items() if k[0].endswith(("_total", "_count", "_sum", "_bucket"))}


def test_the_metrics_are_the_stores_numbers(pg_engine, tmp_path: Path):
    world = seed(pg_engine, tmp_path / "screens")
    raise_once_in(pg_engine, "dpd_threshold", "HIGH", "dpd90:LN77000030:2026-11")
    got = samples(pg_engine)
    for table in ("source_call", "work_item", "early_warning", "file_receipt"):
        assert rows(pg_engine, f"SELECT count(*) FROM {table}")[0][0] > 0  # nothing vacuous

    for system, outcome, n in rows(
        pg_engine, "SELECT system, outcome, count(*) FROM source_call GROUP BY 1, 2"
    ):
        assert got[("loanhub_source_calls_total", of(system=system, outcome=outcome))] == n
        if outcome not in ("ok", "business"):
            assert got[("loanhub_source_call_errors_total", of(system=system, kind=outcome))] == n
    assert ("loanhub_source_call_errors_total", of(system="core", kind="ok")) not in got
    # every known system is there from zero: its first failure is an increase
    assert got[("loanhub_source_calls_total", of(system="los", outcome="transient"))] == 0
    assert got[("loanhub_source_call_errors_total", of(system="los", kind="transient"))] == 0

    for system, n, total_ms in rows(
        pg_engine, "SELECT system, count(*), sum(duration_ms) FROM source_call GROUP BY 1"
    ):
        assert got[("loanhub_source_call_duration_seconds_count", of(system=system))] == n
        assert got[("loanhub_source_call_duration_seconds_sum", of(system=system))] == (
            pytest.approx(total_ms / 1000)
        )
        for bound in BUCKETS_SECONDS:
            (within,) = rows(
                pg_engine,
                f"SELECT count(*) FROM source_call WHERE system = '{system}' "
                f"AND duration_ms <= {bound * 1000}",
            )[0]
            bucket = of(system=system, le=str(bound))
            assert got[("loanhub_source_call_duration_seconds_bucket", bucket)] == within
        inf = of(system=system, le="+Inf")
        assert got[("loanhub_source_call_duration_seconds_bucket", inf)] == n

    for kind, state, n in rows(
        pg_engine, "SELECT kind, state, count(*) FROM work_item GROUP BY 1, 2"
    ):
        assert got[("loanhub_work_items", of(kind=kind, state=state))] == n
    for kind, state, since in rows(
        pg_engine,
        "SELECT kind, state, min(updated_at) FROM work_item "
        "WHERE state IN ('NEEDS_HUMAN', 'IN_DOUBT') GROUP BY 1, 2",
    ):
        age = got[("loanhub_work_item_oldest_age_seconds", of(kind=kind, state=state))]
        assert age == pytest.approx((world.now - since).total_seconds(), abs=60)
    assert not [k for k in got if k[0] == "loanhub_work_item_oldest_age_seconds"
                and dict(k[1])["state"] not in ("NEEDS_HUMAN", "IN_DOUBT")]  # fmt: skip

    for rule, severity, still in rows(
        pg_engine,
        "SELECT rule, severity, count(*) FROM early_warning "
        "WHERE acknowledged_at IS NULL GROUP BY 1, 2",
    ):
        assert got[("loanhub_warnings_open", of(rule=rule, severity=severity))] == still
    # raised: the warnings raised through the hub's write path (the seed writes its own rows)
    assert got[("loanhub_warnings_raised_total", of(rule="dpd_threshold", severity="HIGH"))] == 1

    for system, loaded, n in rows(
        pg_engine,
        "SELECT source_system, sum(records_loaded), count(*) FROM file_receipt GROUP BY 1",
    ):
        assert got[("loanhub_file_records_loaded_total", of(system=system))] == loaded
        assert got[("loanhub_files_received_total", of(system=system))] == n
    for system, state, n in rows(
        pg_engine, "SELECT source_system, state, count(*) FROM file_receipt GROUP BY 1, 2"
    ):
        assert got[("loanhub_file_outcomes_total", of(system=system, state=state))] == n
    # the seed's rejected extract was never replaced; the tax answer loaded fine
    assert got[("loanhub_files_rejected", of(system="core"))] == 1
    assert got[("loanhub_files_rejected", of(system="tax"))] == 0
    for system, n in rows(
        pg_engine, "SELECT source_system, count(*) FROM quarantined_record GROUP BY 1"
    ):
        assert got[("loanhub_records_quarantined_total", of(system=system))] == n
        assert got[("loanhub_records_in_quarantine", of(system=system))] == n
    ((loaded_at,),) = rows(
        pg_engine, "SELECT updated_at FROM file_receipt WHERE name = 'LNREPAY_20261123.dat'"
    )
    assert got[("loanhub_nightly_sync_last_success_timestamp_seconds", of())] == (
        pytest.approx(loaded_at.timestamp())
    )
    # the chain was never walked: its time is 0 (the "not verified" alert fires), no result
    assert got[("loanhub_audit_chain_last_verification_timestamp_seconds", of())] == 0
    assert ("loanhub_audit_chain_verified", of()) not in got


def raise_once_in(engine, rule: str, severity: str, key: str) -> bool:
    now = datetime.now(UTC)
    warning = EarlyWarning(
        warning_key=key,
        loan_account=key.split(":")[1],
        rule=rule,
        severity=severity,
        message=f"{rule} on {key}",
        raised_at=now,
        lineage=Lineage(
            source_system="hub", fetched_at=now, mapping_version="t", raw_payload_hash="0" * 64
        ),
    )
    with engine.begin() as conn:
        return raise_once(conn, warning)


def test_no_purge_lowers_a_counter(pg_url, pg_engine, tmp_path: Path):
    """Calls purged by ``loanhub calls purge``, records taken out of quarantine, warnings and
    receipts deleted: every counter stays where it was, the gauges follow the store; and the
    next event counts exactly once."""
    seed(pg_engine, tmp_path / "screens")
    raise_once_in(pg_engine, "dpd_threshold", "HIGH", "dpd90:LN77000030:2026-11")
    assert not raise_once_in(pg_engine, "dpd_threshold", "HIGH", "dpd90:LN77000030:2026-11")
    before = samples(pg_engine)
    (journaled,) = rows(pg_engine, "SELECT count(*) FROM source_call")[0]

    purged = runner.invoke(cli, ["calls", "purge", "--days", "0", "--url", pg_url])
    assert purged.exit_code == 0, purged.output
    assert f"purged {journaled} call(s)" in purged.output
    with pg_engine.begin() as conn:  # what reprocessing and retention purges do to the rows
        conn.execute(delete(quarantined_record))
        conn.execute(delete(early_warning))
    assert rows(pg_engine, "SELECT count(*) FROM source_call")[0][0] == 0
    after = samples(pg_engine)

    assert counters(before)
    assert counters(after) == counters(before)
    assert ("loanhub_records_in_quarantine", of(system="core")) not in after
    assert not [k for k in after if k[0] == "loanhub_warnings_open"]

    CallJournal(pg_engine)(
        SourceCall(
            system="bureau",
            operation="RetrieveReport",
            started_at=datetime.now(UTC),
            duration_ms=700,
            outcome=CallOutcome.TRANSIENT,
        )
    )
    later = samples(pg_engine)
    changed = {k: later[k] - v for k, v in counters(after).items() if later[k] != v}
    bureau = of(system="bureau")
    assert changed == {
        ("loanhub_source_calls_total", of(system="bureau", outcome="transient")): 1,
        ("loanhub_source_call_errors_total", of(system="bureau", kind="transient")): 1,
        ("loanhub_source_call_duration_seconds_count", bureau): 1,
        ("loanhub_source_call_duration_seconds_sum", bureau): pytest.approx(0.7),
        **{
            ("loanhub_source_call_duration_seconds_bucket", of(system="bureau", le=le)): 1
            for le in ("1.0", "2.0", "3.0", "5.0", "10.0", "30.0", "60.0", "+Inf")
        },
    }


def test_a_file_counts_once_per_state_and_its_records_once(pg_engine):
    """Marking a receipt again (a retry, a second look) adds nothing; a re-take that loads
    more records adds only the new ones; a corrected delivery clears the rejected gauge."""
    book = FileReceiptBook(pg_engine)
    book.record("core", "LNREPAY.D261118", "a" * 64, 100)
    book.mark("core", "LNREPAY.D261118", "a" * 64, FileState.REJECTED, "trailer", records=(0, 0))
    book.mark("core", "LNREPAY.D261118", "a" * 64, FileState.REJECTED, "trailer", records=(0, 0))
    got = samples(pg_engine)
    assert got[("loanhub_files_rejected", of(system="core"))] == 1
    assert got[("loanhub_file_outcomes_total", of(system="core", state="REJECTED"))] == 1
    assert got[("loanhub_nightly_sync_last_success_timestamp_seconds", of())] == 0

    assert book.record("core", "LNREPAY.D261118", "b" * 64, 100) == "redelivery"
    book.mark("core", "LNREPAY.D261118", "b" * 64, FileState.PARTIAL, records=(8, 2))
    book.mark("core", "LNREPAY.D261118", "b" * 64, FileState.LOADED, records=(10, 0))
    got = samples(pg_engine)
    assert got[("loanhub_files_rejected", of(system="core"))] == 0
    assert got[("loanhub_files_received_total", of(system="core"))] == 2
    assert got[("loanhub_file_records_loaded_total", of(system="core"))] == 10
    assert got[("loanhub_file_outcomes_total", of(system="core", state="PARTIAL"))] == 1
    assert got[("loanhub_file_outcomes_total", of(system="core", state="LOADED"))] == 1
    assert got[("loanhub_nightly_sync_last_success_timestamp_seconds", of())] > 0


def test_the_chain_gauges_are_the_last_recorded_walk(pg_url, pg_engine):
    """``loanhub audit verify`` records each walk; the scrape reads the newest, so a chain
    altered after an intact walk shows broken once it is walked again."""
    from loanhub.platform import audit

    with pg_engine.begin() as conn:
        for n in range(3):
            audit.append(conn, actor="t", action="test.event", subject=f"s{n}")
    walked = runner.invoke(cli, ["audit", "verify", "--url", pg_url])
    assert walked.exit_code == 0, walked.output
    got = samples(pg_engine)
    assert got[("loanhub_audit_chain_verified", of())] == 1
    assert got[("loanhub_audit_chain_events_verified", of())] == 3
    walked_at = got[("loanhub_audit_chain_last_verification_timestamp_seconds", of())]
    assert walked_at == pytest.approx(datetime.now(UTC).timestamp(), abs=60)

    with pg_engine.begin() as conn:  # an insider edits an event (the guard trigger off)
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(audit_event.update().where(audit_event.c.seq == 2).values(subject="x"))
        conn.execute(text("SET session_replication_role = origin"))
    assert samples(pg_engine)[("loanhub_audit_chain_verified", of())] == 1  # not walked yet
    walked = runner.invoke(cli, ["audit", "verify", "--url", pg_url])
    assert walked.exit_code == 1
    got = samples(pg_engine)
    assert got[("loanhub_audit_chain_verified", of())] == 0
    assert got[("loanhub_audit_chain_events_verified", of())] == 1
    assert got[("loanhub_audit_chain_last_verification_timestamp_seconds", of())] >= walked_at


def profile_now(engine, application_no: str, age: timedelta, round_: int = 1) -> None:
    """A profile of ``application_no``'s round ``round_`` built ``age`` ago (no decision)."""
    at = datetime.now(UTC) - age
    with engine.begin() as conn:
        conn.execute(
            insert(applicant_profile).values(
                fact_row(
                    ApplicantProfile(
                        application_no=application_no,
                        party_id_number="110101199003077774",
                        requested_amount=Decimal("80000"),
                        term_months=12,
                        inputs_hash=uuid.uuid4().hex * 2,
                        round=round_,
                        lineage=Lineage(
                            source_system="hub",
                            fetched_at=at,
                            mapping_version="t",
                            raw_payload_hash="0" * 64,
                        ),
                    )
                )
            )
        )


def test_applications_waiting_for_their_decision(pg_engine, tmp_path: Path):
    """Profiled for their current round and undecided (a referral nobody answered): counted,
    the oldest by its round's first profile; decided ones and earlier rounds are not."""
    seed(pg_engine, tmp_path / "screens")
    assert samples(pg_engine)[("loanhub_decisions_waiting", of())] == 0  # all seeded decided
    assert ("loanhub_decision_oldest_waiting_age_seconds", of()) not in samples(pg_engine)
    waiting, returned = [
        n
        for (n,) in rows(
            pg_engine,
            "SELECT application_no FROM application WHERE application_no NOT IN "
            "(SELECT application_no FROM decision) ORDER BY application_no LIMIT 2",
        )
    ]
    profile_now(pg_engine, waiting, timedelta(hours=10))
    profile_now(pg_engine, waiting, timedelta(hours=2))  # rebuilt: still waiting since 10 h
    # a returned application, re-opened in round 2: its round-1 profile is no longer waiting
    with pg_engine.begin() as conn:
        conn.execute(
            application.update().where(application.c.application_no == returned).values(round=2)
        )
    profile_now(pg_engine, returned, timedelta(hours=30), round_=1)
    profile_now(pg_engine, returned, timedelta(hours=3), round_=2)
    stale = rows(  # profiled 40 days ago on a report long expired: harvested again, not waited on
        pg_engine,
        "SELECT application_no FROM application WHERE application_no NOT IN "
        "(SELECT application_no FROM decision) ORDER BY application_no OFFSET 2 LIMIT 1",
    )[0][0]
    profile_now(pg_engine, stale, timedelta(days=40))
    got = samples(pg_engine)
    assert got[("loanhub_decisions_waiting", of())] == 2
    age = got[("loanhub_decision_oldest_waiting_age_seconds", of())]
    assert age == pytest.approx(10 * 3600, abs=60)


def test_promtool_accepts_a_real_scrape(served):
    scraped = requests.get(f"{served.url}/metrics", timeout=30)
    assert scraped.status_code == 200
    assert "loanhub_decisions_waiting" in scraped.text
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=scraped.text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # and the check can fail: a counter without its _total suffix is refused
    bad = "# HELP loanhub_calls x\n# TYPE loanhub_calls counter\nloanhub_calls 1\n"
    refused = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=bad, capture_output=True, text=True
    )
    assert refused.returncode != 0


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
