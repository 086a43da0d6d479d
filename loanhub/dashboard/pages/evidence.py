"""``/evidence/{id}``: what a stuck work item's evidence shows, masked, for operators only
(the router's dependency); viewers get 403, anonymous requests the login page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import Engine

from loanhub.dashboard import evidence, figures
from loanhub.dashboard.deps import Render, Settings, Store, operator
from loanhub.dashboard.i18n import N_
from loanhub.flows.casefile import lookup

router = APIRouter(dependencies=[Depends(operator)])


def _stuck_item(store: Engine, item_id: int) -> figures.QueueItem:
    item = figures.queue_item(store, item_id)
    if item is None:
        raise HTTPException(404, N_("no such work item"))
    return item


@router.get("/evidence/{item_id}", response_class=HTMLResponse)
def evidence_page(render: Render, store: Store, settings: Settings, item_id: int) -> HTMLResponse:
    item = _stuck_item(store, item_id)
    found = evidence.preview(settings, item.evidence)
    case = lookup.application_of_item(store, item.kind, item.business_key)
    return render("evidence.html", active="queues", item=item, preview=found, case=case)


@router.get("/evidence/{item_id}/screen.png")
def evidence_screen(store: Store, settings: Settings, item_id: int) -> FileResponse:
    """The masked screenshot only; the trace beside it is never served (no route for it)."""
    found = evidence.preview(settings, _stuck_item(store, item_id).evidence)
    if found is None or found.screenshot is None:
        raise HTTPException(404, N_("no screenshot"))
    return FileResponse(found.screenshot, media_type="image/png")
