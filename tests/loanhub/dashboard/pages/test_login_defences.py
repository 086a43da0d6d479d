"""The standalone dashboard's login defences, one test each: lock-out per user and per
address, the password rule, sessions ended by a logout and by a new password, and the audit
trail of logins, failures, lock-outs and logouts (in the hub's store)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from loanhub.dashboard.app import create_app
from loanhub.dashboard.auth import Role, UserBook, password_problem
from loanhub.dashboard.state import COOKIE
from tests.loanhub.dashboard.pages.conftest import Hub, form_csrf, sign_in
from tests.loanhub.dashboard.serving import PASSWORDS


@pytest.fixture
def client_at(hub: Hub):
    """A client of a dashboard with small lock-out limits, calling from ``address`` (with no
    language chosen: the login page speaks Chinese)."""
    apps = []

    def make(address: str, *, users: int = 3, addresses: int = 100) -> TestClient:
        lockout = {"lockout_user_failures": users, "lockout_address_failures": addresses}
        settings = hub.settings.model_copy(
            update={"dashboard": hub.settings.dashboard.model_copy(update=lockout)}
        )
        apps.append(create_app(settings))
        return TestClient(apps[-1], follow_redirects=False, client=(address, 40000))

    yield make
    for app in apps:
        engine = app.state.dashboard.__dict__.get("engine")
        if engine is not None:
            engine.dispose()


def attempt(client: TestClient, user: str, password: str):
    data = {"username": user, "password": password, "csrf": form_csrf(client)}
    return client.post("/login", data=data)


def events(hub: Hub, action: str) -> list[tuple[str, str]]:
    with hub.store.connect() as conn:
        rows = conn.execute(
            text("SELECT actor, subject FROM audit_event WHERE action = :a ORDER BY seq"),
            {"a": action},
        )
        return [tuple(r) for r in rows]


def test_a_user_is_locked_out_after_repeated_failures(client_at, hub: Hub):
    client = client_at("10.0.0.1")
    for _ in range(3):
        assert attempt(client, "vera", "Not-her-pass-1").status_code == 401
    locked = attempt(client, "vera", PASSWORDS["vera"])  # the right password, too late
    assert locked.status_code == 429
    assert "登录失败次数过多，请稍后再试。" in locked.text  # Too many failed logins
    assert client.get("/").status_code == 303  # nobody signed in
    assert attempt(client, "otto", PASSWORDS["otto"]).status_code == 303  # others may
    assert events(hub, "dashboard.locked_out") == [("dashboard", "user:vera")]
    assert events(hub, "dashboard.login_failed") == [("address:10.0.0.1", "vera")] * 3
    assert events(hub, "dashboard.login_refused") == [("address:10.0.0.1", "vera")]


def test_an_address_is_locked_out_after_failures_over_many_names(client_at, hub: Hub):
    guesser = client_at("10.0.0.2", users=100, addresses=3)
    for name in ("ann", "bob", "cy"):
        assert attempt(guesser, name, "Guess-pass-123").status_code == 401
    assert attempt(guesser, "otto", PASSWORDS["otto"]).status_code == 429
    assert events(hub, "dashboard.locked_out") == [("dashboard", "address:10.0.0.2")]
    elsewhere = client_at("10.0.0.3", users=100, addresses=3)
    assert attempt(elsewhere, "otto", PASSWORDS["otto"]).status_code == 303
    assert events(hub, "dashboard.login") == [("dashboard:otto", "otto")]


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Short-pw-1", "at least 12 characters"),
        ("alllowercaseletters", "three of"),
        ("lowercase-and-digits-1", None),
        ("Vera-is-my-name-2026", "the user's name"),
        ("Viewer-pass-2026", None),
    ],
)
def test_a_password_must_be_decent(password: str, why: str | None, tmp_path):
    problem = password_problem("vera", password)
    assert (problem is None) if why is None else (why in problem)
    book = UserBook(tmp_path / "users.json")
    if why is None:
        book.put("vera", Role.VIEWER, password)
    else:
        with pytest.raises(ValueError, match=why):
            book.put("vera", Role.VIEWER, password)
        assert book.names() == {}


def test_a_logout_ends_the_session_on_the_server(client: TestClient, hub: Hub):
    csrf = sign_in(client, "vera")
    stolen = client.cookies[COOKIE]
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    client.cookies.set(COOKIE, stolen)  # the cookie as it was before the logout
    assert client.get("/").headers["location"] == "/login?next=/"
    assert events(hub, "dashboard.logout") == [("dashboard:vera", "vera")]


def test_a_new_password_ends_every_session(client_for, hub: Hub):
    desk, laptop = client_for(), client_for()
    sign_in(desk, "vera")
    sign_in(laptop, "vera")
    hub.users.put("vera", Role.VIEWER, "Another-pass-2027")
    assert desk.get("/").status_code == 303
    assert laptop.get("/").status_code == 303
    assert attempt(desk, "vera", "Another-pass-2027").status_code == 303
    assert desk.get("/").status_code == 200
