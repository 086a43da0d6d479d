"""``/sources``: per legacy system, its calls by outcome, success rate, latency percentiles
and how fresh its data is, over a window of 1 hour to 90 days; and, per system, its calls
and success rate per bucket of that window (5 minutes, an hour or a day of the bank's clock),
to see since when a source has been failing."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from kernel.calls import CallOutcome
from loanhub.dashboard import charts, figures, trends
from loanhub.dashboard.buckets import Window, grain_for, grain_words, span_words
from loanhub.dashboard.deps import Board, Render, Store
from loanhub.dashboard.i18n import N_, text
from schemas.types import utcnow

router = APIRouter()


@router.get("/sources", response_class=HTMLResponse)
def sources(render: Render, board: Board, store: Store, hours: int = 24) -> HTMLResponse:
    hours = min(max(hours, 1), 24 * 90)
    now = utcnow()
    health = figures.sources(store, now - timedelta(hours=hours))
    span = timedelta(hours=hours)
    window = Window.ending(now, span, grain_for(span), board.zone)
    over_time = trends.calls(store, window, [s.calls for s in figures.SYSTEMS])
    starts = [window.start(k) for k in window.buckets()]
    trend_charts = [
        (
            s,
            charts.timeline(
                N_(
                    "%(system)s: calls per %(grain)s and success rate, last %(span)s",
                    system=text(s.title),
                    grain=grain_words(window.grain),
                    span=span_words(hours),
                ),
                starts,
                window.grain.seconds,
                bars=[
                    (N_("calls succeeded"), over_time[s.calls].ok),
                    (N_("calls failed"), over_time[s.calls].failed),
                ],
                rate=(N_("success rate"), over_time[s.calls].rates),
                height=190,
            ),
        )
        for s in figures.SYSTEMS
    ]
    return render(
        "sources.html",
        active="sources",
        hours=hours,
        health=health,
        now=now,
        trend_charts=trend_charts,
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
