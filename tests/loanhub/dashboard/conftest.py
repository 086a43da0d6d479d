"""The dashboard served for real (uvicorn on loopback) over a seeded store and Airflow's
metadata DB of the test run, with one viewer and one operator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page
from sqlalchemy import Engine, delete, insert

from devtools.cluster import free_port
from loanhub.dashboard.app import create_app
from loanhub.dashboard.auth import Role, UserBook
from loanhub.dashboard.i18n import COOKIE
from loanhub.platform.db import make_engine
from loanhub.runtime.settings import HubSettings
from tests.conftest import truncate
from tests.loanhub.dashboard.seed import World, seed

RUN_PREFIX = "dashboard_seed__"
SCREEN = {"width": 1366, "height": 768}
PASSWORDS = {"vera": "Viewer-pass-2026", "otto": "Operator-pass-2026"}


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
    users = UserBook(settings.dashboard_users_path)
    users.put("vera", Role.VIEWER, PASSWORDS["vera"])
    users.put("otto", Role.OPERATOR, PASSWORDS["otto"])

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", settings, store, airflow, world)
    finally:
        server.should_exit = True
        thread.join(10)
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
