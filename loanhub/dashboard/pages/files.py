"""``/files``: the files taken from legacy systems (loaded, partial, rejected and why) and
the records their contracts refused, by field or rule; how late the data came, night by
night: the core's nightly extract against its due time (settings: the dashboard's
``extract_due``), the tax authority's answers against the wait the harvest allows; and, for
operators, a re-delivered file let through once more (``loanhub.flows.retakes``) and a
source's quarantined records reprocessed with the current mapping
(``loanhub.flows.reprocessing``), each with a note, the session's CSRF token and its audit
event. A refusal shows the page again with the reason."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loanhub.dashboard import charts, figures, trends
from loanhub.dashboard.buckets import DAY, Window
from loanhub.dashboard.deps import Board, CheckedForm, ItemId, Line, Note, Operator, Render, Store
from loanhub.dashboard.errors import refusal_status
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.state import base_path
from loanhub.flows import reprocessing, retakes
from loanhub.flows.operator_actions import ActionRefused
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.operator import raw_evidence
from schemas.types import local_day, utcnow

router = APIRouter()

DONE = ("retaken", "reprocessed")


def _page(
    render: Render,
    board: Board,
    store: Store,
    *,
    nights: int = 30,
    error: str = "",
    done: str = "",
    status: int = 200,
) -> HTMLResponse:
    nights = min(max(nights, 1), 366)
    now = utcnow()
    settings = board.settings
    found = figures.files(store)
    book = FileReceiptBook(store)
    retake = {}
    if render.who.user.role.value == "operator":
        retake = retakes.reasons(book, book.by_ids([r.id for r in found.receipts]))
    # the business dates up to yesterday: today's extract is made tonight
    last = local_day(board.zone, now) - timedelta(days=1)
    extracts = trends.nightly_extracts(
        store, last, nights, settings.dashboard.extract_due, board.zone
    )
    grace = timedelta(minutes=settings.dashboard.extract_grace_minutes)
    status_of = [n.status(now, grace) for n in extracts]
    late = [n.late_by(now) for n in extracts]
    days = Window.ending(now, timedelta(days=nights), DAY, board.zone)
    allowed = timedelta(seconds=settings.orchestration.tax_wait_seconds)
    tax = trends.tax_answers(store, days, allowed, now)
    page = render(
        "files.html",
        active="files",
        found=found,
        retake=retake,
        reprocess={s.source_system: reprocessing.why_not(s.source_system) for s in found.sources},
        error=error,
        done=done if done in DONE else "",
        nights=nights,
        extracts=list(zip(extracts, status_of, late, strict=True)),
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
                        for s, d in zip(status_of, late, strict=True)
                    ],
                )
            ],
            marks=[(name, [s == name for s in status_of]) for name in MARKS],
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
    page.status_code = status
    return page


MARKS = (N_("on time"), N_("missing"), N_("rejected"), N_("waiting"))
"""The statuses of a night drawn as a mark on its day (a late night is a column)."""


@router.get("/files", response_class=HTMLResponse)
def files_page(
    render: Render, board: Board, store: Store, nights: int = 30, done: Line = ""
) -> HTMLResponse:
    return _page(render, board, store, nights=nights, done=done)


@router.post("/files/{receipt_id}/retake", response_class=HTMLResponse)
def retake_file(
    request: Request,
    render: Render,
    board: Board,
    who: Operator,
    csrf: CheckedForm,
    store: Store,
    receipt_id: ItemId,
    note: Annotated[Note, Form(max_length=2000)] = "",
) -> Response:
    """Let a received file through once more: the next run that looks for it takes it."""
    try:
        retakes.retake(FileReceiptBook(store), receipt_id, actor=who.actor, note=note)
    except ActionRefused as exc:
        return _page(render, board, store, error=str(exc), status=refusal_status(exc))
    return RedirectResponse(f"{base_path(request)}/files?done=retaken", 303)


@router.post("/quarantine/reprocess", response_class=HTMLResponse)
def reprocess_source(
    request: Request,
    render: Render,
    board: Board,
    who: Operator,
    csrf: CheckedForm,
    store: Store,
    source_system: Annotated[Line, Form(max_length=80)] = "",
    source_ref: Annotated[Line, Form(max_length=400)] = "",
    note: Annotated[Note, Form(max_length=2000)] = "",
) -> Response:
    """Map one source's kept copy again with the mapping as it is now."""
    try:
        reprocessing.reprocess(
            store,
            source_system,
            source_ref,
            actor=who.actor,
            note=note,
            raw=raw_evidence(board.settings).get_raw,
        )
    except ActionRefused as exc:
        return _page(render, board, store, error=str(exc), status=refusal_status(exc))
    return RedirectResponse(f"{base_path(request)}/files?done=reprocessed", 303)
