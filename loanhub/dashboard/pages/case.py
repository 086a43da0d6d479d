"""``/case``: the case file of one application, and finding it.

``/case/{application_no}`` shows the case file (``loanhub.flows.casefile``) inside the
dashboard's layout, drawn by the same template as the archived file. ``/case?q=`` finds an
application by what names it and carries no personal data (its number or the start of it, a
loan account, an LOS reference, an EndToEndId): any signed-in user. A full resident ID or
USCC is searched only by an operator, only with the form (``POST /case/by-id``: a CSRF token,
and the ID never in an address, a browser history or an access log), and every such search
is audited with the ID masked; one typed into ``q`` is refused, to a viewer and an operator
alike, and nothing is searched.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loanhub.dashboard.auth import Role
from loanhub.dashboard.deps import CheckedForm, Line, Operator, Render, Settings, Store, Viewer
from loanhub.dashboard.headers import nonce
from loanhub.dashboard.state import base_path
from loanhub.flows.casefile import CaseNotFound, build, lookup
from loanhub.flows.casefile.render import render_body
from loanhub.platform.blacklist import party_id
from loanhub.platform.masking import mask_id

router = APIRouter()

CaseQuery = Annotated[Line, Query(max_length=100)]


def _found(request: Request, render: Render, numbers: list[str], asked: str) -> Response:
    if len(numbers) == 1:
        return RedirectResponse(f"{base_path(request)}/case/{numbers[0]}", 303)
    return render("case.html", active="case", results=numbers, asked=asked, body=None)


@router.get("/case", response_class=HTMLResponse)
def case_search(
    request: Request, render: Render, store: Store, who: Viewer, q: CaseQuery = ""
) -> Response:
    if not q.strip():
        return render("case.html", active="case", results=None, asked="", body=None)
    if lookup.is_id_number(q):
        if not who.user.role.allows(Role.OPERATOR):
            raise HTTPException(403, "searching by ID number is for operators only")
        raise HTTPException(
            400, "an ID number is searched with the ID form (it stays out of addresses and logs)"
        )
    return _found(request, render, lookup.by_reference(store, q), q.strip())


@router.post("/case/by-id", response_class=HTMLResponse)
def case_by_id(
    request: Request,
    render: Render,
    store: Store,
    who: Operator,
    csrf: CheckedForm,
    id_number: Annotated[Line, Form(max_length=40)] = "",
) -> Response:
    """Operators only, CSRF-checked, audited (``case.searched_by_id``, the ID masked)."""
    try:
        wanted = party_id(id_number.strip())
    except ValueError as exc:
        raise HTTPException(400, "not a resident ID or USCC") from exc
    numbers = lookup.by_id_number(store, wanted, actor=who.actor, channel="dashboard")
    return _found(request, render, numbers, mask_id(wanted))


@router.get("/case/{application_no}", response_class=HTMLResponse)
def case_page(
    request: Request,
    render: Render,
    store: Store,
    settings: Settings,
    who: Viewer,
    application_no: Annotated[Line, PathParam(max_length=64)],
) -> HTMLResponse:
    try:
        case = build(
            store,
            application_no,
            zone=render.board.zone,
            risk_classes=settings.warnings.risk_classes,
            evidence_root=settings.data_dir / "evidence",
            screens_root=settings.screen_evidence_dir,
        )
    except CaseNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    body = render_body(
        case,
        operator=who.user.role.allows(Role.OPERATOR),
        link=base_path(request),
        zone=settings.timezone,
        nonce=nonce(request),
    )
    return render("case.html", active="case", results=None, asked=case.application_no, body=body)
