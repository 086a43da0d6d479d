"""``/language/<tag>``: the language switch of every page's header. It keeps the choice in a
cookie scoped to the mount point (a year: a person's language does not change by the day) and
goes back to the page it was clicked on. Open to anonymous requests, since the login page has
the switch too; choosing a language changes nothing but how pages read."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from loanhub.dashboard import i18n
from loanhub.dashboard.deps import Line
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.state import base_path, local_target

router = APIRouter()

YEAR = 365 * 24 * 3600


@router.get("/language/{tag}")
def switch_language(request: Request, tag: str, next: Line = "") -> Response:
    if tag not in i18n.LANGUAGES:
        raise HTTPException(404, N_("the dashboard does not speak that language"))
    response = RedirectResponse(local_target(request, next) or f"{base_path(request)}/", 303)
    response.set_cookie(
        i18n.COOKIE,
        tag,
        max_age=YEAR,
        path=base_path(request) or "/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response
