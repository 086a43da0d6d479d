"""``/evidence/{id}``: what a stuck work item's evidence shows, masked, for operators only
(the router's dependency); viewers get 403, anonymous requests the login page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from loanhub.dashboard import evidence, figures
from loanhub.dashboard.deps import ItemId, Render, Settings, Store, operator
from loanhub.dashboard.i18n import N_
from loanhub.flows.casefile import lookup

router = APIRouter(dependencies=[Depends(operator)])


def _stuck_item(store: Engine, item_id: int) -> figures.QueueItem:
    item = figures.queue_item(store, item_id)
    if item is None:
        raise HTTPException(404, N_("no such work item"))
    return item


@router.get("/evidence/{item_id}", response_class=HTMLResponse)
def evidence_page(
    render: Render, store: Store, settings: Settings, item_id: ItemId
) -> HTMLResponse:
    item = _stuck_item(store, item_id)
    found = evidence.preview(settings, item.evidence)
    case = lookup.application_of_item(store, item.kind, item.business_key)
    return render("evidence.html", active="queues", item=item, preview=found, case=case)


@router.get("/evidence/{item_id}/screen.png")
def evidence_screen(store: Store, settings: Settings, item_id: ItemId) -> Response:
    """The masked screenshot only; the trace beside it is never served (no route for it).
    Read through the same checks as the page (``evidence.screenshot``), bytes in hand, so no
    path is opened again after it was checked."""
    found = evidence.screenshot(settings, _stuck_item(store, item_id).evidence)
    if found is None:
        raise HTTPException(404, N_("no screenshot"))
    return Response(found, media_type="image/png")
