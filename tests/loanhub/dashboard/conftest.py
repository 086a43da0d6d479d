"""The dashboard served for real (uvicorn on loopback) over a seeded store and Airflow's
metadata DB of the test run, with one viewer and one operator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import Engine, delete, insert

from loanhub.dashboard.i18n import COOKIE
from loanhub.platform.db import make_engine
from loanhub.runtime.settings import HubSettings
from tests.conftest import truncate
from tests.loanhub.dashboard.seed import World, seed
from tests.loanhub.dashboard.serving import serving

RUN_PREFIX = "dashboard_seed__"
SCREEN = {"width": 1366, "height": 768}


@dataclass
class Served:
    url: str
    settings: HubSettings
    store: Engine
    airflow: Engine
    world: World


def seed_runs(airflow: Engine, now: datetime) -> None:
    """Runs as the scheduler leaves them in ``dag_run``, written with Airflow's own table."""
    from airflow.models.dagrun import DagRun

    table = DagRun.__table__
    plan = [
        ("credit_harvest", "success", 3),
        ("credit_harvest", "failed", 1),
        ("credit_decision", "success", 2),
        ("credit_decision", "running", 1),
        ("loan_disbursement", "failed", 2),
        ("repayment_sync", "queued", 1),
    ]
    with airflow.begin() as conn:
        conn.execute(delete(table).where(table.c.run_id.like(f"{RUN_PREFIX}%")))
        n = 0
        for dag_id, state, count in plan:
            for _ in range(count):
                n += 1
                start = now - timedelta(minutes=10 * n)
                finished = state in ("success", "failed")
                conn.execute(
                    insert(table).values(
                        dag_id=dag_id,
                        run_id=f"{RUN_PREFIX}{n}",
                        run_type="manual",
                        state=state,
                        start_date=None if state == "queued" else start,
                        end_date=start + timedelta(minutes=5) if finished else None,
                        run_after=start,
                        clear_number=0,
                        span_status="not_started",
                    )
                )
        # yesterday's failure: not "today"
        conn.execute(
            insert(table).values(
                dag_id="credit_harvest",
                run_id=f"{RUN_PREFIX}old",
                run_type="manual",
                state="failed",
                start_date=now - timedelta(days=2),
                run_after=now - timedelta(days=2),
                clear_number=0,
                span_status="not_started",
            )
        )


@pytest.fixture(scope="module")
def served(
    pg_url: str, airflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    store = make_engine(pg_url)
    truncate(store)
    data_dir = tmp_path_factory.mktemp("dashboard")
    airflow_url = f"sqlite:///{Path(airflow_env['AIRFLOW_HOME']) / 'airflow.db'}"
    settings = HubSettings(data_dir=data_dir, database_url=pg_url, airflow_db_url=airflow_url)
    world = seed(store, settings.screen_evidence_dir)
    airflow = make_engine(airflow_url)
    seed_runs(airflow, datetime.now(UTC))
    try:
        with serving(settings) as url:
            yield Served(url, settings, store, airflow, world)
    finally:
        truncate(store)
        store.dispose()
        airflow.dispose()


@contextmanager
def browser_page(chromium, url: str, language: str | None = "en") -> Iterator[Page]:
    """A fresh browser session at 1366x768 in the module's Chromium (not pytest-playwright's
    session-wide one, which would leave an event loop running under later sync Playwright).
    It reads English (``language``: the cookie the language switch sets) unless told
    otherwise; None: a first visit, the dashboard's default (Chinese)."""
    context = chromium.browser.new_context(viewport=SCREEN)
    context.set_default_timeout(10_000)
    if language:
        context.add_cookies([{"name": COOKIE, "value": language, "url": url}])
    try:
        yield context.new_page()
    finally:
        context.close()
