"""The dashboard under attack (issue 22), one test per attack: guessing passwords (one by one,
all at once, behind a forged X-Forwarded-For), a weak password at the CLI, a cookie replayed
past its server-side lifetime, tokens, cookies and ids no browser sends, text the store cannot
take, and the security headers on every answer (CSP with nonces and no inline styles),
mounted or not."""

from __future__ import annotations

import json
import re
import threading
import time
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from loanhub.dashboard.app import create_app
from loanhub.dashboard.auth import LoginGuard
from loanhub.dashboard.state import COOKIE
from schemas.tables import application
from tests.loanhub.dashboard.pages.conftest import Hub, form_csrf, sign_in
from tests.loanhub.dashboard.seed import seed
from tests.loanhub.dashboard.serving import PASSWORDS


def attempt(client: TestClient, user: str, password: str, **headers: str):
    data = {"username": user, "password": password, "csrf": form_csrf(client)}
    return client.post("/login", data=data, headers=headers)


# -- guessing ---------------------------------------------------------------------------------


def test_forty_wrong_passwords_then_the_right_one_is_locked(client: TestClient, hub: Hub):
    """The issue's attack with the shipped limits (5 per user, 20 per address)."""
    started = time.monotonic()
    answers = [attempt(client, "vera", f"Wrong-pass-{n:04d}").status_code for n in range(40)]
    assert answers[:5] == [401] * 5
    assert set(answers[5:]) == {429}  # locked: no password checked after the fifth
    assert attempt(client, "vera", PASSWORDS["vera"]).status_code == 429
    assert client.get("/").status_code == 303
    assert time.monotonic() - started < 30


def test_guesses_sent_at_once_are_admitted_only_up_to_the_limit(tmp_path):
    """40 concurrent guesses: counted before any password is checked, so at most the limit
    is ever checked (a check-then-count guard let all 40 through)."""
    guard = LoginGuard(tmp_path / "logins.json", user_limit=5, address_limit=100, minutes=15)
    admitted: list[float] = []
    gate = threading.Barrier(40)

    def guess() -> None:
        gate.wait()
        refused, at = guard.admit(["user:vera", "address:10.9.9.9"])
        if refused is None:
            admitted.append(at)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 5


def test_a_forged_forwarded_for_does_not_change_the_address(client_for, hub: Hub):
    """The address is the peer's (uvicorn rewrites it only for proxies it trusts); a header
    the guesser sends is not read, so rotating it escapes no address lock-out."""
    settings = hub.settings.model_copy(
        update={
            "dashboard": hub.settings.dashboard.model_copy(
                update={"lockout_user_failures": 100, "lockout_address_failures": 3}
            )
        }
    )
    client = client_for(settings)
    for n in range(3):
        forged = {"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"203.0.113.{n}"}
        assert attempt(client, f"user{n}", "Guess-pass-1234", **forged).status_code == 401
    assert (
        attempt(client, "otto", PASSWORDS["otto"], **{"X-Forwarded-For": "1.2.3.4"}).status_code
        == 429
    )


def test_the_password_a_is_refused_by_the_cli(hub: Hub, monkeypatch, pg_url: str):
    from loanhub.cli import app as cli

    monkeypatch.setenv("LOANHUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("LOANHUB_DATABASE_URL", pg_url)
    for weak in ("a", "aaaaaaaaaaaa", "Otto-Operator-1"):
        result = CliRunner().invoke(cli, ["dashboard-user", "add", "otto", "--password", weak])
        assert result.exit_code != 0, result.output
        assert "Traceback" not in result.output
    assert attempt(TestClient(create_app(hub.settings)), "otto", "a").status_code == 401
    stored = json.loads(hub.settings.dashboard_users_path.read_text(encoding="utf-8"))
    assert stored["otto"]["sessions"] == {}  # nothing changed, no session opened


# -- sessions ---------------------------------------------------------------------------------


def test_a_cookie_past_its_server_side_lifetime_is_refused(client: TestClient, hub: Hub):
    """The cookie is still validly signed; the users file says its session ended."""
    sign_in(client, "vera")
    assert client.get("/").status_code == 200
    path = hub.settings.dashboard_users_path
    users = json.loads(path.read_text(encoding="utf-8"))
    users["vera"]["sessions"] = {sid: time.time() - 1 for sid in users["vera"]["sessions"]}
    path.write_text(json.dumps(users), encoding="utf-8")
    assert client.get("/").status_code == 303


# -- tokens, cookies, ids ---------------------------------------------------------------------

ODD_TOKENS = ["é", "令牌", "\u202e", "x" * 5000, "%00", ""]


@pytest.mark.parametrize("token", ODD_TOKENS)
def test_odd_csrf_tokens_are_403(client: TestClient, hub: Hub, token: str):
    item = seed(hub.store, hub.settings.screen_evidence_dir).evidence_item
    sign_in(client, "otto")
    for path in ("/logout", f"/items/{item}/release", "/warnings/acknowledge"):
        answer = client.post(path, data={"csrf": token, "note": "n", "warning_key": "k"})
        assert answer.status_code in (403, 422), (path, answer.status_code)
    login = TestClient(create_app(hub.settings), follow_redirects=False)
    login.get("/login")
    answer = login.post("/login", data={"username": "vera", "password": "x", "csrf": token})
    assert answer.status_code in (403, 422)


@pytest.mark.parametrize("token", [b"\xc3\xa9", "令牌".encode(), b"\xff\xfe", b"x" * 8000])
def test_odd_bearer_tokens_and_cookies_are_4xx(client_for, hub: Hub, token: bytes):
    from pydantic import SecretStr

    settings = hub.settings.model_copy(
        update={
            "dashboard": hub.settings.dashboard.model_copy(
                update={"metrics_token": SecretStr("scrape-me")}
            )
        }
    )
    client = client_for(settings, language=None)
    answer = client.get("/metrics", headers={"Authorization": b"Bearer " + token})
    assert answer.status_code == 401
    for name in (COOKIE, "loanhub_lang"):
        cookie = name.encode() + b"=" + token
        assert client.get("/", headers={"Cookie": cookie}).status_code == 303
        assert client.get("/login", headers={"Cookie": cookie}).status_code == 200


ODD_IDS = ["99999999999999999999", "9223372036854775808", "-1", "0", "1e9", "１２", "1.5", "%00"]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_ids_are_4xx_on_every_route_with_an_id(client: TestClient, hub: Hub, odd: str):
    csrf = sign_in(client, "otto")
    gets = ["/items/{}", "/evidence/{}", "/evidence/{}/screen.png", "/case/{}"]
    posts = [f"/items/{{}}/{a}" for a in ("read", "settle", "release", "close", "reopen")]
    posts.append("/files/{}/retake")
    for path in gets:
        answer = client.get(path.format(odd))
        assert 400 <= answer.status_code < 500, (path, odd, answer.status_code)
    for path in posts:
        answer = client.post(path.format(odd), data={"csrf": csrf, "note": "n", "outcome": "x"})
        assert 400 <= answer.status_code < 500, (path, odd, answer.status_code)


def test_the_largest_id_is_a_plain_404(client: TestClient):
    sign_in(client, "otto")
    assert client.get("/items/9223372036854775807").status_code == 404
    assert client.get("/evidence/9223372036854775807").status_code == 404


@pytest.mark.parametrize("text", ["a\x00b", "\x85", "x\u2028y", "\u202eevil", "\x1b[31m"])
def test_text_the_store_cannot_take_is_422_not_500(client: TestClient, hub: Hub, text: str):
    """NUL and control characters in any field: refused at the edge (PostgreSQL refuses NUL
    in text and JSON: that was a 500 from the login's own audit event)."""
    item = seed(hub.store, hub.settings.screen_evidence_dir).evidence_item
    login = TestClient(create_app(hub.settings), follow_redirects=False)
    answer = login.post(
        "/login", data={"username": text, "password": "x", "csrf": form_csrf(login)}
    )
    assert answer.status_code == 422
    csrf = sign_in(client, "otto")
    for path, data in (
        (f"/items/{item}/release", {"note": f"note {text}"}),
        ("/warnings/acknowledge", {"warning_key": text}),
        ("/quarantine/reprocess", {"source_system": text, "source_ref": "r", "note": "n"}),
        ("/case/by-id", {"id_number": text}),
    ):
        answer = client.post(path, data={"csrf": csrf, **data})
        assert answer.status_code in (400, 422), (path, answer.status_code)
    assert client.get("/case", params={"q": text}).status_code == 422
    assert client.get(f"/case/{quote(text, safe='')}").status_code in (404, 422)


# -- headers ----------------------------------------------------------------------------------

STYLE_OR_SCRIPT = re.compile(r"<(style|script)\b([^>]*)>")


def assert_secure(answer) -> str:
    """The headers every answer carries; the CSP's nonce."""
    h = answer.headers
    csp = h["content-security-policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["cache-control"] == "no-store"
    return re.search(r"script-src 'nonce-([^']+)'", csp)[1]


def assert_only_nonced(html: str, nonce: str) -> None:
    """Every <style> and <script> carries this answer's nonce; no element a style attribute
    (CSP without 'unsafe-inline' would drop it) nor an inline handler."""
    for _, attributes in STYLE_OR_SCRIPT.findall(html):
        assert f'nonce="{nonce}"' in attributes
    assert not re.search(r"<[^>]+\sstyle=", html)
    assert not re.search(r"<[^>]+\son[a-z]+=", html)


def test_security_headers_on_every_answer(client: TestClient, hub: Hub):
    world = seed(hub.store, hub.settings.screen_evidence_dir)
    anonymous = [client.get(p) for p in ("/login", "/health", "/", "/nowhere", "/metrics")]
    for answer in anonymous:
        assert_secure(answer)
    login = anonymous[0]
    assert_only_nonced(login.text, assert_secure(login))
    sign_in(client, "otto")
    pages = ["/", "/sources", "/queues", "/approvals", "/warnings", "/files", "/case"]
    pages += [f"/items/{world.evidence_item}", f"/evidence/{world.evidence_item}"]
    with hub.store.connect() as conn:
        number = conn.execute(select(application.c.application_no).limit(1)).scalar_one()
    pages.append(f"/case/{number}")  # the case file's body, its own <style> nonced too
    nonces = set()
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, path
        nonce = assert_secure(answer)
        assert_only_nonced(answer.text, nonce)
        nonces.add(nonce)
    assert len(nonces) == len(pages)  # one nonce per answer
    missing = client.get("/items/424242", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert_only_nonced(missing.text, assert_secure(missing))
    assert_secure(client.get(f"/evidence/{world.evidence_item}/screen.png"))


def test_mounted_in_a_parent_the_headers_stay_under_the_mount(hub: Hub):
    """Inside Airflow the dashboard is a sub-app at /loanhub: its answers carry the headers,
    the parent's own (Airflow's UI) are left as they are."""
    parent = FastAPI()

    @parent.get("/ui")
    def ui() -> dict[str, str]:
        return {"airflow": "ui"}

    app = create_app(hub.settings)
    parent.mount("/loanhub", app)
    client = TestClient(parent, follow_redirects=False)
    assert "content-security-policy" not in client.get("/ui").headers
    assert "x-frame-options" not in client.get("/ui").headers
    assert_secure(client.get("/loanhub/login"))
    assert_secure(client.get("/loanhub/"))
    engine = app.state.dashboard.__dict__.get("engine")
    if engine is not None:
        engine.dispose()


def test_airflow_shows_the_dashboard_as_a_link_not_a_frame():
    """``frame-ancestors 'none'`` holds inside Airflow because its navigation entry is a
    link: an external view with a ``url_route`` would be an iframe of Airflow's UI."""
    from dags.support.plugin import LoanhubPlugin

    assert [v.get("url_route") for v in LoanhubPlugin.external_views] == [None]


@pytest.mark.parametrize("wanted", ["/\t/evil.example/", "/\n/evil.example/", "//evil.example/"])
def test_a_next_that_a_browser_would_turn_into_another_site_goes_home(
    client: TestClient, wanted: str
):
    """Browsers drop tabs and line breaks from a URL: "/<TAB>/evil" would become "//evil"."""
    assert client.get("/login", params={"next": wanted}).status_code in (200, 422)
    switched = client.get("/language/en", params={"next": wanted})
    assert switched.status_code in (303, 422)
    if switched.status_code == 303:
        assert switched.headers["location"] == "/"
    answer = client.post(
        "/login",
        data={
            "username": "vera",
            "password": PASSWORDS["vera"],
            "csrf": form_csrf(client),
            "next": wanted,
        },
    )
    assert answer.status_code in (303, 422)
    if answer.status_code == 303:
        assert answer.headers["location"] == "/"


def test_even_an_unexpected_500_carries_the_headers(hub: Hub):
    app = create_app(hub.settings)

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    answer = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert answer.status_code == 500
    assert_secure(answer)
