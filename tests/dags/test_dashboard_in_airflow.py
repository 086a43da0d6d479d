"""The dashboard inside a real Airflow API server (SimpleAuthManager, a fixed JWT secret),
behind Airflow's login only: an anonymous request is refused (401, or the browser sent to
Airflow's login page), an admin's token opens it, a viewer sees but may not acknowledge, an
operator (an Airflow role that may edit DAG runs) acknowledges and is the audit event's actor;
and in Chromium an admin signed in to Airflow's UI opens /loanhub/ with no second login
(screenshot: docs/images/dashboard-in-airflow.png), in Chinese first and in English after the
switch, its links and cookie under the mount."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, text

from devtools.cluster import free_port
from loanhub.dashboard.i18n import COOKIE
from tests.conftest import BIN, truncate
from tests.loanhub.dashboard.seed import seed

ROOT = Path(__file__).resolve().parents[2]
# user -> SimpleAuthManager role; each user's password is its name with "-pw"
USERS = {"admin": "admin", "vic": "viewer", "ola": "op"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
KEY = re.compile(r'name="warning_key" value="([^"]+)"')


@dataclass
class Airflow:
    url: str
    store: Engine

    def token(self, user: str) -> str:
        answer = requests.post(
            f"{self.url}/auth/token",
            json={"username": user, "password": f"{user}-pw"},
            timeout=30,
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()["access_token"]

    def as_user(self, user: str, language: str | None = "en") -> requests.Session:
        """A session of ``user``'s token that reads English (``language``: the cookie the
        switch sets; None: the dashboard's default, Chinese)."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token(user)}"
        if language:
            session.cookies.set(COOKIE, language, path="/loanhub")
        return session


@pytest.fixture(scope="module")
def airflow(
    airflow_env: dict[str, str], pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Airflow]:
    from loanhub.platform.db import make_engine
    from loanhub.runtime.settings import HubSettings

    home = Path(airflow_env["AIRFLOW_HOME"])
    passwords = home / "dashboard_auth_passwords.json"
    passwords.write_text(json.dumps({u: f"{u}-pw" for u in USERS}))
    data_dir = tmp_path_factory.mktemp("hub")
    store = make_engine(pg_url)
    truncate(store)
    seed(store, HubSettings(data_dir=data_dir).screen_evidence_dir)
    port = free_port()
    env = {
        **airflow_env,
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "loanhub-dashboard-test-jwt-secret-0123456789",
        "AIRFLOW__API__SECRET_KEY": "loanhub-dashboard-test-secret-key",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_DATA_DIR": str(data_dir),
    }
    log = (home / "dashboard-api-server.log").open("wb")
    server = subprocess.Popen(
        [BIN / "airflow", "api-server", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (home / "dashboard-api-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the API server did not start"
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        yield Airflow(url, store)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        truncate(store)
        store.dispose()


def test_an_anonymous_request_is_refused(airflow: Airflow):
    plain = requests.get(f"{airflow.url}/loanhub/queues", allow_redirects=False, timeout=30)
    assert plain.status_code == 401
    assert "NEEDS_HUMAN" not in plain.text
    browser = requests.get(
        f"{airflow.url}/loanhub/queues",
        headers={"Accept": "text/html"},
        allow_redirects=False,
        timeout=30,
    )
    assert browser.status_code == 303
    assert browser.headers["location"].startswith("/auth/login?next=")
    forged = requests.get(
        f"{airflow.url}/loanhub/", headers={"Authorization": "Bearer forged"}, timeout=30
    )
    assert forged.status_code == 401
    # the dashboard's own login does not exist inside Airflow
    assert requests.get(f"{airflow.url}/loanhub/login", timeout=30).status_code == 404


def test_an_admins_token_opens_it_with_no_second_login(airflow: Airflow):
    page = airflow.as_user("admin").get(f"{airflow.url}/loanhub/", timeout=30)
    assert page.status_code == 200
    assert "admin (operator)" in page.text
    assert "Log out" not in page.text  # Airflow signs people out, not the dashboard


def test_inside_airflow_it_reads_chinese_and_switches_under_the_mount(airflow: Airflow):
    admin = airflow.as_user("admin", language=None)
    page = admin.get(f"{airflow.url}/loanhub/warnings", timeout=30)
    assert '<html lang="zh-CN">' in page.text
    assert "admin (操作员)" in page.text
    assert ">预警</a>" in page.text
    assert 'href="/loanhub/language/en?next=/loanhub/warnings"' in page.text
    switched = admin.get(
        f"{airflow.url}/loanhub/language/en",
        params={"next": "/loanhub/warnings"},
        allow_redirects=False,
        timeout=30,
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/loanhub/warnings"
    assert "Path=/loanhub" in switched.headers["set-cookie"]
    english = admin.get(f"{airflow.url}/loanhub/warnings", timeout=30)
    assert '<html lang="en">' in english.text
    assert "admin (operator)" in english.text


def test_a_viewer_sees_but_may_not_acknowledge(airflow: Airflow):
    vic = airflow.as_user("vic")
    page = vic.get(f"{airflow.url}/loanhub/warnings", timeout=30)
    assert page.status_code == 200
    assert "vic (viewer)" in page.text
    assert "Acknowledge" not in page.text
    key = open_warning(airflow)
    answer = vic.post(
        f"{airflow.url}/loanhub/warnings/acknowledge",
        data={"csrf": "whatever", "warning_key": key},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 403
    assert answer.json()["detail"] == "operators only"
    assert acknowledged_by(airflow, key) == []


def test_an_operator_acknowledges_as_the_airflow_user(airflow: Airflow):
    ola = airflow.as_user("ola")
    page = ola.get(f"{airflow.url}/loanhub/warnings", timeout=30)
    assert "ola (operator)" in page.text
    key = KEY.search(page.text)[1]
    ack = f"{airflow.url}/loanhub/warnings/acknowledge"
    forged = ola.post(ack, data={"csrf": "forged", "warning_key": key}, timeout=30)
    assert forged.status_code == 403  # the form's token is bound to the sign-in
    answer = ola.post(
        ack,
        data={"csrf": CSRF.search(page.text)[1], "warning_key": key},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    assert acknowledged_by(airflow, key) == ["airflow:ola"]


def test_signed_in_to_airflows_ui_an_admin_opens_the_dashboard(airflow: Airflow, chromium):
    context = chromium.browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto(f"{airflow.url}/")
        page.wait_for_url(re.compile(r".*/auth/login.*"))
        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill("admin-pw")
        page.get_by_role("button", name=re.compile("sign in", re.I)).click()
        page.wait_for_url(re.compile(r"^(?!.*auth/login).*$"))
        page.goto(f"{airflow.url}/loanhub/")
        assert page.url == f"{airflow.url}/loanhub/"
        assert page.get_by_text("admin (操作员)").is_visible()  # Chinese first
        page.screenshot(path=str(ROOT / "docs" / "images" / "dashboard-in-airflow.png"))
        page.get_by_role("link", name="English").click()
        page.wait_for_url(f"{airflow.url}/loanhub/")
        assert page.get_by_text("admin (operator)").is_visible()
    finally:
        context.close()


def open_warning(airflow: Airflow) -> str:
    with airflow.store.connect() as conn:
        return conn.execute(
            text("SELECT warning_key FROM early_warning WHERE acknowledged_at IS NULL LIMIT 1")
        ).scalar_one()


def acknowledged_by(airflow: Airflow, key: str) -> list[str]:
    with airflow.store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor FROM audit_event WHERE action = 'warning.acknowledged' "
                "AND subject = :k ORDER BY seq"
            ),
            {"k": key},
        )
        return [r[0] for r in rows]
