"""``/files``: the files taken from legacy systems (loaded, partial, rejected and why) and
the records their contracts refused, by field or rule; for operators, a re-delivered file
let through once more (``loanhub.flows.retakes``) and a source's quarantined records
reprocessed with the current mapping (``loanhub.flows.reprocessing``), each with a note, the
session's CSRF token and its audit event. A refusal shows the page again with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loanhub.dashboard import charts, figures
from loanhub.dashboard.deps import Board, CheckedForm, Operator, Render, Store
from loanhub.dashboard.state import base_path
from loanhub.flows import reprocessing, retakes
from loanhub.flows.operator_actions import ActionRefused, BadInput
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.operator import raw_evidence

router = APIRouter()

DONE = ("retaken", "reprocessed")


def _page(
    render: Render, store: Store, *, error: str = "", done: str = "", status: int = 200
) -> HTMLResponse:
    found = figures.files(store)
    book = FileReceiptBook(store)
    retake = {}
    if render.who.user.role.value == "operator":
        retake = retakes.reasons(book, book.by_ids([r.id for r in found.receipts]))
    page = render(
        "files.html",
        active="files",
        found=found,
        retake=retake,
        reprocess={s.source_system: reprocessing.why_not(s.source_system) for s in found.sources},
        error=error,
        done=done if done in DONE else "",
        state_chart=charts.hbar("Files by state", sorted(found.by_state.items())),
        reason_chart=charts.hbar(
            "Quarantined records by field or rule",
            found.quarantine_reasons.most_common(12),
        ),
    )
    page.status_code = status
    return page


@router.get("/files", response_class=HTMLResponse)
def files_page(render: Render, store: Store, done: str = "") -> HTMLResponse:
    return _page(render, store, done=done)


@router.post("/files/{receipt_id}/retake", response_class=HTMLResponse)
def retake_file(
    request: Request,
    render: Render,
    who: Operator,
    csrf: CheckedForm,
    store: Store,
    receipt_id: int,
    note: Annotated[str, Form()] = "",
) -> Response:
    """Let a received file through once more: the next run that looks for it takes it."""
    try:
        retakes.retake(FileReceiptBook(store), receipt_id, actor=who.actor, note=note)
    except ActionRefused as exc:
        return _page(render, store, error=str(exc), status=_status(exc))
    return RedirectResponse(f"{base_path(request)}/files?done=retaken", 303)


@router.post("/quarantine/reprocess", response_class=HTMLResponse)
def reprocess_source(
    request: Request,
    render: Render,
    board: Board,
    who: Operator,
    csrf: CheckedForm,
    store: Store,
    source_system: Annotated[str, Form()] = "",
    source_ref: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
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
        return _page(render, store, error=str(exc), status=_status(exc))
    return RedirectResponse(f"{base_path(request)}/files?done=reprocessed", 303)


def _status(exc: ActionRefused) -> int:
    return 400 if isinstance(exc, BadInput) else 409
