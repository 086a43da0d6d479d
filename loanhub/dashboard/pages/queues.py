"""``/queues``: work items by kind and state, how long the queues a person works off
(NEEDS_HUMAN, IN_DOUBT, FAILED) have been over the last day to 90 days, and the ones that
wait for a person (needs human, in doubt), oldest first, with a link to their evidence for
operators."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from loanhub.dashboard import charts, figures, trends
from loanhub.dashboard.buckets import Window, grain_for, grain_words, span_words
from loanhub.dashboard.deps import Board, Render, Store
from loanhub.dashboard.i18n import N_
from loanhub.flows.casefile import lookup
from schemas.types import utcnow

router = APIRouter()

ORDER = ["NEEDS_HUMAN", "IN_DOUBT", "FAILED", "IN_PROGRESS", "NEW", "DONE", "CLOSED"]
"""States in the order they need attention."""


@router.get("/queues", response_class=HTMLResponse)
def queues(render: Render, board: Board, store: Store, hours: int = 24) -> HTMLResponse:
    hours = min(max(hours, 1), 24 * 90)
    found = figures.queues(store)
    span = timedelta(hours=hours)
    window = Window.ending(utcnow(), span, grain_for(span), board.zone)
    levels = trends.queue_levels(store, window)
    shown = [s.value for s in trends.QUEUE_STATES]
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
        hours=hours,
        chart=charts.stacked(
            N_("Work items by kind and state"), list(found.by_kind.items()), ORDER
        ),
        levels={s: levels[s] for s in shown},
        history_chart=charts.timeline(
            N_(
                "Items waiting per state at the end of each %(grain)s, last %(span)s",
                grain=grain_words(window.grain),
                span=span_words(hours),
            ),
            [window.start(k) for k in window.buckets()],
            window.grain.seconds,
            lines=[(s, levels[s]) for s in shown],
            height=230,
        ),
    )
