"""``/approvals``: decisions, automation and referral rates, and how long each step from
application to settled payment takes, over the last 1 to 366 days."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from loanhub.dashboard import charts, figures
from loanhub.dashboard.deps import Render, Store
from loanhub.dashboard.i18n import N_
from schemas.types import utcnow

router = APIRouter()


@router.get("/approvals", response_class=HTMLResponse)
def approvals(render: Render, store: Store, days: int = 30) -> HTMLResponse:
    days = min(max(days, 1), 366)
    found = figures.approvals(store, utcnow() - timedelta(days=days))
    medians = [(name, figures.median(found.step_hours[name])) for name, _, _ in figures.STEPS]
    return render(
        "approvals.html",
        active="approvals",
        days=days,
        found=found,
        medians=medians,
        median=figures.median,
        percentile=figures.percentile,
        steps_chart=charts.hbar(
            N_("Median wait per step (hours)"),
            [(n, round(v, 2)) for n, v in medians if v is not None],
            unit=" h",
        ),
        cycle_chart=charts.histogram(N_("Application to decision (hours)"), found.cycle_hours),
    )
