"""``/sources``: per legacy system, its calls by outcome, success rate, latency percentiles
and how fresh its data is, over a window of 1 hour to 90 days."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from kernel.calls import CallOutcome
from loanhub.dashboard import charts, figures
from loanhub.dashboard.deps import Render, Store
from loanhub.dashboard.i18n import N_
from schemas.types import utcnow

router = APIRouter()


@router.get("/sources", response_class=HTMLResponse)
def sources(render: Render, store: Store, hours: int = 24) -> HTMLResponse:
    hours = min(max(hours, 1), 24 * 90)
    now = utcnow()
    health = figures.sources(store, now - timedelta(hours=hours))
    return render(
        "sources.html",
        active="sources",
        hours=hours,
        health=health,
        now=now,
        calls_chart=charts.stacked(
            N_("Calls per system, last %(hours)s h, by outcome", hours=hours),
            [(h.system.title, h.by_outcome) for h in health],
            [o.value for o in CallOutcome],
        ),
        latency_chart=charts.hbar(
            N_("p95 latency per system, last %(hours)s h (ms)", hours=hours),
            [(h.system.title, h.p95_ms) for h in health if h.p95_ms is not None],
            unit=" ms",
        ),
    )
