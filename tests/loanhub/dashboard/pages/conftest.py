"""The dashboard in-process (FastAPI's TestClient) over an emptied PostgreSQL store, for the
route rules the browser tests of ``test_pages`` do not reach: CSRF, cookies, roles, windows,
errors, a mount point."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from loanhub.dashboard.app import create_app
from loanhub.dashboard.auth import Role, UserBook
from loanhub.dashboard.i18n import COOKIE
from loanhub.runtime.settings import HubSettings
from tests.loanhub.dashboard.serving import PASSWORDS

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Hub:
    settings: HubSettings
    store: Engine
    users: UserBook


@pytest.fixture
def hub(pg_engine: Engine, pg_url: str, tmp_path) -> Hub:
    settings = HubSettings(data_dir=tmp_path, database_url=pg_url, airflow_db_url=None)
    users = UserBook(settings.dashboard_users_path)
    users.put("vera", Role.VIEWER, PASSWORDS["vera"])
    users.put("otto", Role.OPERATOR, PASSWORDS["otto"])
    return Hub(settings, pg_engine, users)


@pytest.fixture
def client_for(hub: Hub) -> Iterator[Callable[..., TestClient]]:
    """Make a client of the dashboard (``mount``: under that prefix of a parent app, as Airflow
    mounts it); the apps' store engines are disposed of after the test. The client reads
    English (``language``; None: no choice made, the dashboard's default, Chinese), so the
    route tests can say what they look for in the words they are written in."""
    apps: list[FastAPI] = []

    def make(
        settings: HubSettings | None = None, *, mount: str = "", language: str | None = "en"
    ) -> TestClient:
        app = create_app(settings or hub.settings)
        apps.append(app)
        if mount:
            parent = FastAPI()
            parent.mount(mount, app)
        client = TestClient(parent if mount else app, follow_redirects=False)
        if language:  # as the language switch leaves it
            client.cookies.set(COOKIE, language)
        return client

    yield make
    for app in apps:
        engine = app.state.dashboard.__dict__.get("engine")
        if engine is not None:
            engine.dispose()


@pytest.fixture
def client(client_for: Callable[..., TestClient]) -> TestClient:
    return client_for()


def form_csrf(client: TestClient, base: str = "") -> str:
    """The CSRF token the login form carries (the session's, once there is one)."""
    return CSRF.search(client.get(f"{base}/login").text)[1]


def sign_in(client: TestClient, user: str, base: str = "") -> str:
    """Log ``user`` in; the signed-in session's CSRF token, for its forms."""
    answer = client.post(
        f"{base}/login",
        data={"username": user, "password": PASSWORDS[user], "csrf": form_csrf(client, base)},
    )
    assert answer.status_code == 303, answer.text
    return CSRF.search(client.get(f"{base}/").text)[1]  # the signed-in pages' forms' token
