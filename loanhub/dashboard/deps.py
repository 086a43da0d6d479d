"""The routes' FastAPI dependencies: the app's state, the signed-in user and the role rule,
the CSRF check of posted forms, and the page renderer.

Every page route takes ``Render`` (which needs a signed-in ``Viewer``, so no page renders for
an anonymous request: it is sent to the login page); operator-only routes add ``Operator``;
every form post takes ``CheckedForm`` after its user, so a stale or forged form is refused
before it does anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from sqlalchemy import Engine

from loanhub.dashboard.auth import Role, User, same_secret
from loanhub.dashboard.rendering import PAGES
from loanhub.dashboard.state import Dashboard, base_path
from loanhub.runtime.settings import HubSettings


class LoginRequired(Exception):
    """Raised by ``viewer`` for an anonymous request; ``to_login`` answers it."""


def to_login(request: Request, exc: Exception) -> RedirectResponse:
    """The exception handler for ``LoginRequired``: to the login page, back here after."""
    wanted = request.url.path
    return RedirectResponse(f"{base_path(request)}/login?next={quote(wanted)}", status_code=303)


def dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard


Board = Annotated[Dashboard, Depends(dashboard)]


def templates(request: Request) -> Environment:
    return request.app.state.templates


Templates = Annotated[Environment, Depends(templates)]


def store(board: Board) -> Engine:
    """The hub's store (opened by the first request that needs it)."""
    return board.engine


Store = Annotated[Engine, Depends(store)]


def settings(board: Board) -> HubSettings:
    return board.settings


Settings = Annotated[HubSettings, Depends(settings)]


def viewer(request: Request, board: Board) -> User:
    """Any logged-in user; anonymous requests are sent to the login page."""
    user = board.user(request)
    if user is None:
        raise LoginRequired
    return user


Viewer = Annotated[User, Depends(viewer)]


def operator(user: Viewer) -> User:
    if not user.role.allows(Role.OPERATOR):
        raise HTTPException(403, "operators only")
    return user


Operator = Annotated[User, Depends(operator)]


def checked_form(request: Request, board: Board, csrf: Annotated[str, Form()] = "") -> str:
    """The form's CSRF token, if it is the one in this session's cookie (the forms carry it
    as a hidden field; another site can post a form but cannot read the cookie)."""
    expected = board.session(request).get("csrf", "")
    if not expected or not same_secret(csrf, expected):
        raise HTTPException(403, "the form is stale: reload the page")
    return csrf


CheckedForm = Annotated[str, Depends(checked_form)]


@dataclass(frozen=True)
class Renderer:
    """Renders a page of the dashboard for the signed-in user, with what ``base.html``
    needs (navigation, mount point, the user, the session's CSRF token for its forms)."""

    request: Request
    board: Dashboard
    templates: Environment
    user: User

    def __call__(self, template: str, **values: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            base=base_path(self.request),
            user=self.user,
            pages=PAGES,
            csrf=self.board.session(self.request).get("csrf", ""),
            zone=self.board.settings.timezone,
            **values,
        )
        return HTMLResponse(body)


def renderer(request: Request, board: Board, templates: Templates, user: Viewer) -> Renderer:
    return Renderer(request, board, templates, user)


Render = Annotated[Renderer, Depends(renderer)]
