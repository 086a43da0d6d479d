"""``/approvals``: decisions, automation and referral rates, and how long each step from
application to settled payment takes, over the last 1 to 366 days; and the cycle times per
day (periods up to two weeks) or per week: application to decision, decision to money
settled."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from loanhub.dashboard import charts, figures, trends
from loanhub.dashboard.buckets import DAY, WEEK, Window, grain_words
from loanhub.dashboard.deps import Board, Render, Store
from loanhub.dashboard.i18n import N_
from schemas.types import utcnow

router = APIRouter()


@router.get("/approvals", response_class=HTMLResponse)
def approvals(render: Render, board: Board, store: Store, days: int = 30) -> HTMLResponse:
    days = min(max(days, 1), 366)
    now = utcnow()
    found = figures.approvals(store, now - timedelta(days=days))
    medians = [(name, figures.median(found.step_hours[name])) for name, _, _ in figures.STEPS]
    window = Window.ending(now, timedelta(days=days), DAY if days <= 14 else WEEK, board.zone)
    cycles = trends.cycle_times(store, window)
    return render(
        "approvals.html",
        active="approvals",
        days=days,
        found=found,
        medians=medians,
        median=figures.median,
        percentile=figures.percentile,
        cycles=cycles,
        weekly=window.grain is WEEK,
        steps_chart=charts.hbar(
            N_("Median wait per step (hours)"),
            [(n, round(v, 2)) for n, v in medians if v is not None],
            unit=" h",
        ),
        cycle_chart=charts.histogram(N_("Application to decision (hours)"), found.cycle_hours),
        trend_chart=charts.timeline(
            N_(
                "Median cycle time per %(grain)s, last %(days)s days (hours)",
                grain=grain_words(window.grain),
                days=days,
            ),
            [p.start for p in cycles],
            window.grain.seconds,
            lines=[
                (N_("application to decision"), [p.decision_median for p in cycles]),
                (N_("decision to money settled"), [p.payout_median for p in cycles]),
            ],
            unit=" h",
            width=1240,
            height=240,
        ),
    )
