"""Logging in and out. The login form gets a CSRF token before anyone is known (a session
with only ``csrf`` in it); logging in replaces the session, token included, so a token seen
before the login is worth nothing after it."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loanhub.dashboard.deps import Board, CheckedForm, Templates, checked_form, viewer
from loanhub.dashboard.state import base_path

router = APIRouter()


def _local(request: Request, wanted: str) -> str:
    """``next`` only when it is a page of this dashboard (no open redirect)."""
    base = base_path(request)
    if wanted.startswith(f"{base}/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return ""


def _login_page(
    request: Request,
    templates: Templates,
    wanted: str,
    csrf: str,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    body = templates.get_template("login.html").render(
        base=base_path(request), next=_local(request, wanted), csrf=csrf, error=error
    )
    return HTMLResponse(body, status_code=status)


@router.get("/login", response_class=HTMLResponse, name="login")
def login_form(
    request: Request, board: Board, templates: Templates, next: str = ""
) -> HTMLResponse:
    session = board.session(request)
    if "csrf" not in session:
        session = {"csrf": secrets.token_urlsafe(24)}
    response = _login_page(request, templates, next, session["csrf"])
    board.set_session(response, request, session)
    return response


@router.post("/login")
def login(
    request: Request,
    board: Board,
    templates: Templates,
    csrf: CheckedForm,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    user = board.users.check(username, password)
    if user is None:
        time.sleep(0.5)  # a guess costs time
        return _login_page(request, templates, next, csrf, "Unknown user or wrong password.", 401)
    response = RedirectResponse(_local(request, next) or f"{base_path(request)}/", 303)
    board.set_session(response, request, {"user": user.name, "csrf": secrets.token_urlsafe(24)})
    return response


@router.post("/logout", dependencies=[Depends(viewer), Depends(checked_form)])
def logout(request: Request, board: Board) -> Response:
    """Signed in and the form is this session's (else to the login page, or 403)."""
    response = RedirectResponse(f"{base_path(request)}/login", 303)
    board.end_session(response, request)
    return response
