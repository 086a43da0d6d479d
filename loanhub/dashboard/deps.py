"""The routes' FastAPI dependencies: the app's state, the signed-in user (from the app's
identity provider, ``loanhub.dashboard.identity``) and the role rule, the CSRF check of
posted forms, and the page renderer.

Every page route takes ``Render`` (which needs a signed-in ``Viewer``, so no page renders for
an anonymous request: the identity provider refuses it, with its login page or 401);
operator-only routes add ``Operator``; every form post takes ``CheckedForm`` after its user,
so a stale or forged form is refused before it does anything.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment
from pydantic import AfterValidator
from sqlalchemy import Engine

from loanhub.dashboard.auth import Role, same_secret
from loanhub.dashboard.headers import nonce
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.identity import SignedIn
from loanhub.dashboard.rendering import PAGES
from loanhub.dashboard.state import Dashboard, base_path, here
from loanhub.runtime.settings import HubSettings
from schemas.types import utcnow

ID_MAX = 2**63 - 1
"""The largest id the store holds (a BIGINT key): a larger one is refused (422) before any
query, never sent to PostgreSQL to overflow there (a 500)."""

ItemId = Annotated[int, Path(ge=1, le=ID_MAX, description="a row's id (1 to 2**63-1)")]
"""Every route's id in its path: a whole number in the key's range, ASCII digits only
(``-1``, ``1e9``, ``１２`` and 20-digit numbers are 422)."""

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_BREAKS = frozenset("\n\r\t")


def _clean(value: str, *, lines: bool) -> str:
    """Refuse text no person types and the store or the audit chain must not take: control
    characters (NUL above all: PostgreSQL refuses it in text and JSON, a 500), surrogates,
    bidirectional overrides (a note that reads backwards in the trail) and, in one-line
    fields, line breaks of any kind."""
    for c in value:
        if c in _BREAKS and lines:
            continue
        if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in _BIDI or c == "\x85":
            raise ValueError("the text holds a control or direction character")
    return value


Line = Annotated[str, AfterValidator(lambda v: _clean(v, lines=False))]
"""A one-line value sent by a browser (a name, a key, a token): no control characters."""
Note = Annotated[str, AfterValidator(lambda v: _clean(v, lines=True))]
"""A person's note (several lines allowed): no other control characters."""


class LoginRequired(Exception):
    """Raised by ``viewer`` for an anonymous request; ``to_login`` answers it."""


def to_login(request: Request, exc: Exception) -> Response:
    """The exception handler for ``LoginRequired``: as the identity provider refuses."""
    return request.app.state.dashboard.identity.refuse(request)


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


async def viewer(request: Request, board: Board) -> SignedIn:
    """Any signed-in user; anonymous requests are refused as the identity provider says."""
    found = await board.identity.signed_in(request)
    if found is None:
        raise LoginRequired
    return found


Viewer = Annotated[SignedIn, Depends(viewer)]


def operator(who: Viewer) -> SignedIn:
    if not who.user.role.allows(Role.OPERATOR):
        raise HTTPException(403, N_("operators only"))
    return who


Operator = Annotated[SignedIn, Depends(operator)]


def _same_csrf(sent: str, expected: str) -> None:
    if not expected or not same_secret(sent, expected):
        raise HTTPException(403, N_("the form is stale: reload the page"))


def checked_form(who: Viewer, csrf: Annotated[str, Form(max_length=200)] = "") -> str:
    """The form's CSRF token, if it is the one bound to this sign-in (the forms carry it as a
    hidden field; another site can post a form but cannot read the page or the cookie)."""
    _same_csrf(csrf, who.csrf)
    return csrf


CheckedForm = Annotated[str, Depends(checked_form)]


def login_form_token(
    request: Request, board: Board, csrf: Annotated[str, Form(max_length=200)] = ""
) -> str:
    """The login form's CSRF token, the one of the pre-login cookie (nobody is known yet)."""
    _same_csrf(csrf, board.session(request).get("csrf", ""))
    return csrf


LoginForm = Annotated[str, Depends(login_form_token)]


@dataclass(frozen=True)
class Renderer:
    """Renders a page of the dashboard for the signed-in user, with what ``base.html``
    needs (navigation, mount point, the user, the session's CSRF token for its forms, the
    page's own address for the language switch to come back to)."""

    request: Request
    board: Dashboard
    templates: Environment
    who: SignedIn
    as_of: datetime = field(default_factory=utcnow)
    """When the page's data was read: the request's start, before any of its queries."""

    def __call__(self, template: str, **values: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            base=base_path(self.request),
            user=self.who.user,
            local_login=self.board.identity.local_login,
            pages=PAGES,
            csrf=self.who.csrf,
            zone=self.board.settings.timezone,
            here=here(self.request),
            as_of=self.as_of,
            refresh_seconds=self.board.settings.dashboard.refresh_seconds,
            nonce=nonce(self.request),
            **values,
        )
        return HTMLResponse(body)


def renderer(request: Request, board: Board, templates: Templates, who: Viewer) -> Renderer:
    return Renderer(request, board, templates, who)


Render = Annotated[Renderer, Depends(renderer)]
