"""Errors as a person reads them: a browser asking for a page it may not see, or one that is
not there, gets a page in its language saying so (with the way back), not a JSON body; a
script (no ``text/html`` in Accept) keeps FastAPI's JSON answer, detail in English.

The details are the routes' ``HTTPException`` texts (the catalogues extract a literal second
argument of ``HTTPException`` in the dashboard's code, ``N_`` or not), so the page translates
them; the headers of the answer (``WWW-Authenticate``) are kept."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from loanhub.dashboard import i18n
from loanhub.dashboard.headers import nonce
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.state import base_path, here
from loanhub.flows.operator_actions import ActionRefused, BadInput

TITLES = {
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    429: N_("Too many attempts"),
}
UNKNOWN = N_("Something went wrong")
EXPLAINED = {
    403: N_("Your role may not open this page."),
    404: N_("There is no such page here."),
}
"""What a refusal without words of its own says (Starlette's for an unknown path)."""


async def error_page(request: Request, exc: Exception) -> Response:
    """The exception handler for ``HTTPException``: a page for browsers, JSON otherwise."""
    assert isinstance(exc, HTTPException)
    if "text/html" not in request.headers.get("accept", ""):
        return await http_exception_handler(request, exc)
    title = TITLES.get(exc.status_code, UNKNOWN)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if not detail or detail == _phrase(exc.status_code):  # Starlette's own (no route)
        detail = EXPLAINED.get(exc.status_code, "")
    body = request.app.state.templates.get_template("error.html").render(
        base=base_path(request),
        here=here(request),
        status=exc.status_code,
        title=title,
        detail=i18n.text(detail),
        nonce=nonce(request),
    )
    return HTMLResponse(body, status_code=exc.status_code, headers=exc.headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def refusal_status(exc: ActionRefused) -> int:
    """The status of a page that shows an operator action's refusal: 400 for bad input (no
    note, an unknown item), 409 for what the hub will not do now (the item's state, a legacy
    system that says otherwise), as the CLI's exit 2 and 1."""
    return 400 if isinstance(exc, BadInput) else 409
