"""``/queues``: work items by kind and state, and the ones that wait for a person (needs
human, in doubt), oldest first, with a link to their evidence for operators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from loanhub.dashboard import charts, figures
from loanhub.dashboard.deps import Render, Store
from loanhub.flows.casefile import lookup

router = APIRouter()

ORDER = ["NEEDS_HUMAN", "IN_DOUBT", "FAILED", "IN_PROGRESS", "NEW", "DONE"]
"""States in the order they need attention."""


@router.get("/queues", response_class=HTMLResponse)
def queues(render: Render, store: Store) -> HTMLResponse:
    found = figures.queues(store)
    named = lookup.applications_of_items(store, [(i.kind, i.business_key) for i in found.waiting])
    return render(
        "queues.html",
        active="queues",
        queues=found,
        cases={
            i.id: named[i.kind, i.business_key]
            for i in found.waiting
            if (i.kind, i.business_key) in named
        },
        order=ORDER,
        chart=charts.stacked("Work items by kind and state", list(found.by_kind.items()), ORDER),
    )
