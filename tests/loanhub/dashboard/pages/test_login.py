"""Logging in and out: the CSRF rule of both forms, the session cookie's attributes, a fresh
token at login, the users file read on every request, and all of it under a mount point."""

from __future__ import annotations

from http.cookies import SimpleCookie

from fastapi.testclient import TestClient

from loanhub.dashboard.auth import Role
from loanhub.dashboard.state import COOKIE, SESSION_SECONDS
from tests.loanhub.dashboard.pages.conftest import Hub, form_csrf, sign_in
from tests.loanhub.dashboard.serving import PASSWORDS


def cookie_of(answer) -> SimpleCookie:
    (header,) = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    return SimpleCookie(header)


def test_the_session_cookie_is_signed_script_proof_same_site_and_a_workday_long(
    client: TestClient,
):
    form = client.get("/login")
    morsel = cookie_of(form)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == SESSION_SECONDS
    assert not morsel["secure"]  # plain http here; https sets it
    token = form_csrf(client)
    assert form_csrf(client) == token  # the session keeps its token
    client.cookies.clear()
    client.cookies.set(COOKIE, morsel.value[:-2] + "xx")  # tampered: a new session, new token
    assert form_csrf(client) != token


def test_a_login_without_the_forms_token_is_refused(client: TestClient):
    data = {"username": "vera", "password": PASSWORDS["vera"]}
    assert client.post("/login", data=data).status_code == 403  # no session, no token
    form_csrf(client)
    assert client.post("/login", data={**data, "csrf": "forged"}).status_code == 403
    assert client.post("/login", data={**data, "csrf": "伪造的令牌"}).status_code == 403  # not 500
    assert client.get("/").status_code == 303  # still nobody
    wrong = client.post("/login", data={**data, "password": "no", "csrf": form_csrf(client)})
    assert wrong.status_code == 401
    assert "wrong password" in wrong.text


def test_logging_in_changes_the_token_and_logging_out_needs_it(client: TestClient):
    before = form_csrf(client)
    after = sign_in(client, "vera")
    assert after != before  # a token seen before the login is worth nothing after it
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf": before}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    out = client.post("/logout", data={"csrf": after})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert cookie_of(out)[COOKIE].value in ("", '""')
    assert client.get("/").headers["location"] == "/login?next=/"


def test_an_anonymous_logout_goes_to_the_login_page(client: TestClient):
    out = client.post("/logout", data={"csrf": "anything"})
    assert out.status_code == 303
    assert out.headers["location"] == "/login?next=/logout"


def test_the_users_file_decides_on_every_request(client: TestClient, hub: Hub):
    sign_in(client, "vera")
    assert client.get("/evidence/1").status_code == 403  # a viewer
    hub.users.put("vera", Role.OPERATOR, PASSWORDS["vera"])
    assert client.get("/evidence/1").status_code == 404  # an operator now: no such item
    hub.users.remove("vera")
    assert client.get("/queues").headers["location"] == "/login?next=/queues"


def test_under_a_mount_point_links_cookie_and_next_stay_inside_it(client_for, hub: Hub):
    client = client_for(mount="/loanhub")
    anonymous = client.get("/loanhub/sources")
    assert anonymous.headers["location"] == "/loanhub/login?next=/loanhub/sources"
    form = client.get("/loanhub/login?next=/loanhub/sources")
    assert cookie_of(form)[COOKIE]["path"] == "/loanhub"
    assert 'action="/loanhub/login"' in form.text
    data = {
        "username": "otto",
        "password": PASSWORDS["otto"],
        "csrf": form_csrf(client, "/loanhub"),
    }
    going = client.post("/loanhub/login", data={**data, "next": "/loanhub/sources"})
    assert going.headers["location"] == "/loanhub/sources"
    page = client.get("/loanhub/sources")
    assert page.status_code == 200
    assert 'href="/loanhub/queues"' in page.text
    # a page outside the mount is not "ours": home instead
    client.cookies.clear()
    data["csrf"] = form_csrf(client, "/loanhub")
    home = client.post("/loanhub/login", data={**data, "next": "/sources"})
    assert home.headers["location"] == "/loanhub/"
