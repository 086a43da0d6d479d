"""Logging in and out of the standalone dashboard (inside Airflow these routes are not served:
Airflow signs people in). The login form gets a CSRF token before anyone is known (a cookie
with only ``csrf`` in it); logging in opens a server-side session and replaces the cookie, so
a token seen before the login is worth nothing after it.

Every login, failure, lock-out and logout is audited; a user or an address with too many
recent failures is locked out (``loanhub.dashboard.auth.LoginGuard``) before any password is
checked, so guessing on costs the guesser nothing but time.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loanhub.dashboard.auth import audited
from loanhub.dashboard.deps import Board, CheckedForm, Line, LoginForm, Templates, Viewer
from loanhub.dashboard.headers import nonce
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.state import base_path, here, local_target

router = APIRouter()

LOCKED = N_("Too many failed logins: try again later.")
WRONG = N_("Unknown user or wrong password.")


def _login_page(
    request: Request,
    templates: Templates,
    wanted: str,
    csrf: str,
    error: str = "",  # an N_ string: translated on the page
    status: int = 200,
) -> HTMLResponse:
    body = templates.get_template("login.html").render(
        base=base_path(request),
        next=local_target(request, wanted),
        csrf=csrf,
        error=error,
        here=here(request),
        nonce=nonce(request),
    )
    return HTMLResponse(body, status_code=status)


@router.get("/login", response_class=HTMLResponse, name="login")
def login_form(
    request: Request, board: Board, templates: Templates, next: Line = ""
) -> HTMLResponse:
    session = board.session(request)
    if "csrf" not in session:  # a signed-in session stays signed in
        session = {**session, "csrf": secrets.token_urlsafe(24)}
    response = _login_page(request, templates, next, session["csrf"])
    board.set_session(response, request, session)
    return response


@router.post("/login")
def login(
    request: Request,
    board: Board,
    templates: Templates,
    csrf: LoginForm,
    username: Annotated[Line, Form(max_length=120)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[Line, Form(max_length=2000)] = "",
) -> Response:
    # the peer as the server saw it; uvicorn puts a proxy's X-Forwarded-For there only for the
    # proxies it trusts (FORWARDED_ALLOW_IPS: 127.0.0.1 unless set), never this code
    address = request.client.host if request.client else "unknown"
    keys = [f"user:{username}", f"address:{address}"]
    where = {"address": address}
    locked, at = board.guard.admit(keys)  # counted before the password is checked
    if locked:
        audited(
            board.engine,
            actor=keys[1],
            action="dashboard.login_refused",
            subject=username,
            after={**where, "locked": locked},
        )
        return _login_page(request, templates, next, csrf, LOCKED, 429)
    user = board.users.check(username, password)
    if user is None:
        audited(
            board.engine,
            actor=keys[1],
            action="dashboard.login_failed",
            subject=username,
            after=where,
        )
        for key in board.guard.failed(keys, at):
            audited(
                board.engine,
                actor="dashboard",
                action="dashboard.locked_out",
                subject=key,
                after={"minutes": board.settings.dashboard.lockout_minutes},
            )
        time.sleep(0.2)  # a guess costs time
        return _login_page(request, templates, next, csrf, WRONG, 401)
    board.guard.succeeded(keys[0], keys[1], at)
    sid = board.users.open_session(user.name)
    audited(
        board.engine,
        actor=f"dashboard:{user.name}",
        action="dashboard.login",
        subject=user.name,
        after=where,
    )
    response = RedirectResponse(local_target(request, next) or f"{base_path(request)}/", 303)
    board.set_session(response, request, {"user": user.name, "sid": sid})
    return response


@router.post("/logout")
def logout(request: Request, board: Board, who: Viewer, csrf: CheckedForm) -> Response:
    """Ends this session in the users file (a copy of the cookie is worth nothing after)."""
    board.users.close_session(who.user.name, board.session(request)["sid"])
    audited(board.engine, actor=who.actor, action="dashboard.logout", subject=who.user.name)
    response = RedirectResponse(f"{base_path(request)}/login", 303)
    board.end_session(response, request)
    return response
