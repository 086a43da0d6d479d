"""``/files``: the files taken from legacy systems (loaded, partial, rejected and why) and
the records their contracts refused, by field or rule; and how late the data came, night by
night: the core's nightly extract against its due time (settings: the dashboard's
``extract_due``), the tax authority's answers against the wait the harvest allows."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from loanhub.dashboard import charts, figures, trends
from loanhub.dashboard.buckets import DAY, Window
from loanhub.dashboard.deps import Board, Render, Store
from loanhub.dashboard.i18n import N_
from schemas.types import local_day, utcnow

router = APIRouter()


@router.get("/files", response_class=HTMLResponse)
def files_page(render: Render, board: Board, store: Store, nights: int = 30) -> HTMLResponse:
    nights = min(max(nights, 1), 366)
    now = utcnow()
    settings = board.settings
    found = figures.files(store)
    # the business dates up to yesterday: today's extract is made tonight
    last = local_day(board.zone, now) - timedelta(days=1)
    extracts = trends.nightly_extracts(
        store, last, nights, settings.dashboard.extract_due, board.zone
    )
    grace = timedelta(minutes=settings.dashboard.extract_grace_minutes)
    status = [n.status(now, grace) for n in extracts]
    late = [n.late_by(now) for n in extracts]
    days = Window.ending(now, timedelta(days=nights), DAY, board.zone)
    allowed = timedelta(seconds=settings.orchestration.tax_wait_seconds)
    tax = trends.tax_answers(store, days, allowed, now)
    return render(
        "files.html",
        active="files",
        found=found,
        nights=nights,
        extracts=list(zip(extracts, status, late, strict=True)),
        due=settings.dashboard.extract_due,
        grace=settings.dashboard.extract_grace_minutes,
        allowed_minutes=allowed.total_seconds() / 60,
        tax=tax,
        state_chart=charts.hbar(N_("Files by state"), sorted(found.by_state.items())),
        reason_chart=charts.hbar(
            N_("Quarantined records by field or rule"),
            found.quarantine_reasons.most_common(12),
        ),
        nightly_chart=charts.timeline(
            N_("Core's nightly extract: hours late into the store, last %(n)s nights", n=nights),
            [datetime.combine(n.night, time(0), tzinfo=board.zone) for n in extracts],
            86400,
            bars=[
                (
                    N_("loaded late"),
                    [
                        round(d.total_seconds() / 3600, 2) if s == "late" and d else 0
                        for s, d in zip(status, late, strict=True)
                    ],
                )
            ],
            marks=[(name, [s == name for s in status]) for name in MARKS],
            unit=" h",
        ),
        tax_chart=charts.timeline(
            N_("Tax answers: wait per day of request, last %(n)s days (minutes)", n=nights),
            [d.start for d in tax],
            86400,
            bars=[(N_("longest wait"), [round(d.longest_minutes or 0, 1) for d in tax])],
            lines=[(N_("mean wait"), [d.mean_minutes for d in tax])],
            marks=[(N_("unanswered past the allowed wait"), [d.overdue > 0 for d in tax])],
            limit=(N_("allowed wait"), allowed.total_seconds() / 60),
            unit=" min",
        ),
    )


MARKS = (N_("on time"), N_("missing"), N_("rejected"), N_("waiting"))
"""The statuses of a night drawn as a mark on its day (a late night is a column)."""
