"""``/items/{id}``: one work item, its audit trail, and what an operator may do with it
(``loanhub.flows.operator_actions``): read its legacy system and settle it to what was read
(IN_DOUBT), release it (FAILED, NEEDS_HUMAN), close it (NEEDS_HUMAN) or reopen it (CLOSED).

A viewer sees the item and its trail and no form; every action is a POST that takes the
operator role and the session's CSRF token (``Operator``, ``CheckedForm``) before it does
anything, and each writes its audit event in the transaction of its change. Reading is a POST
too: it reaches a legacy system (the LOS in a browser, the gateway over SFTP, the bureau).
A refusal shows the item again with the reason (409; 400 for a form without its note).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, select

from loanhub.dashboard import figures
from loanhub.dashboard.deps import Board, CheckedForm, ItemId, Line, Note, Operator, Render, Store
from loanhub.dashboard.errors import refusal_status
from loanhub.dashboard.state import base_path
from loanhub.flows import operator_actions
from loanhub.flows.operator_actions import ActionRefused, Reading
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from loanhub.runtime.operator import legacy_readers, operator_ledger
from schemas.tables import audit_event

router = APIRouter()

DONE = ("settled", "released", "closed", "reopened")
"""What a redirect after an action may name (the page says it in words)."""


def _item(store: Engine, item_id: int) -> figures.QueueItem:
    item = figures.queue_item(store, item_id)
    if item is None:
        raise HTTPException(404, "no such work item")
    return item


def trail(store: Engine, item: figures.QueueItem, limit: int = 50) -> list[dict[str, Any]]:
    """The item's audit events, newest first (the chain stores subjects masked)."""
    subject = mask_text(f"{item.kind}:{item.business_key}")
    with store.connect() as conn:
        rows = conn.execute(
            select(
                audit_event.c.occurred_at,
                audit_event.c.actor,
                audit_event.c.action,
                audit_event.c.after,
            )
            .where(audit_event.c.subject == subject)
            .order_by(audit_event.c.seq.desc())
            .limit(limit)
        ).all()
    return [
        {"at": at, "actor": actor, "action": action, "note": (after or {}).get("note")}
        for at, actor, action, after in rows
    ]


def _page(
    render: Render,
    store: Store,
    item_id: int,
    *,
    reading: Reading | None = None,
    error: str = "",
    done: str = "",
    status: int = 200,
) -> HTMLResponse:
    item = _item(store, item_id)
    ledger_item = WorkItemLedger(store).get_by_id(item_id)
    assert ledger_item is not None
    page = render(
        "item.html",
        active="queues",
        item=item,
        actions=operator_actions.actions_for(ledger_item),
        read_from=operator_actions.READ_FROM.get(item.kind),
        reading=reading,
        trail=trail(store, item),
        error=error,
        done=done if done in DONE else "",
    )
    page.status_code = status
    return page


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(render: Render, store: Store, item_id: ItemId, done: Line = "") -> HTMLResponse:
    return _page(render, store, item_id, done=done)


@router.post("/items/{item_id}/read", response_class=HTMLResponse)
def read_item(
    render: Render, board: Board, who: Operator, csrf: CheckedForm, store: Store, item_id: ItemId
) -> HTMLResponse:
    """Ask the legacy system about this item now (nothing is sent) and show what it read."""
    item = _item(store, item_id)
    ledger = operator_ledger(board.settings, store, who.actor)
    try:
        with legacy_readers(board.settings, store) as readers:
            reading = operator_actions.read(store, readers, ledger, item.kind, item.business_key)
    except ActionRefused as exc:
        return _page(render, store, item_id, error=str(exc), status=refusal_status(exc))
    return _page(render, store, item_id, reading=reading)


@router.post("/items/{item_id}/settle", response_class=HTMLResponse)
def settle_item(
    request: Request,
    render: Render,
    board: Board,
    who: Operator,
    csrf: CheckedForm,
    store: Store,
    item_id: ItemId,
    outcome: Annotated[Line, Form(max_length=40)] = "",
    note: Annotated[Note, Form(max_length=2000)] = "",
) -> Response:
    """Settle to the outcome the operator confirmed: read again now, refused unless that
    reading supports exactly this outcome."""
    item = _item(store, item_id)
    ledger = operator_ledger(board.settings, store, who.actor)

    def settle() -> None:
        with legacy_readers(board.settings, store) as readers:
            operator_actions.settle(
                store, readers, ledger, item.kind, item.business_key, outcome, note
            )

    return _acted(request, render, store, item_id, "settled", settle)


def _change(action: str, change: Callable[..., Any]) -> Callable[..., Response]:
    """The route of one note-taking action (release, close, reopen)."""

    def route(
        request: Request,
        render: Render,
        board: Board,
        who: Operator,
        csrf: CheckedForm,
        store: Store,
        item_id: ItemId,
        note: Annotated[Note, Form(max_length=2000)] = "",
    ) -> Response:
        item = _item(store, item_id)
        ledger = operator_ledger(board.settings, store, who.actor)
        return _acted(
            request,
            render,
            store,
            item_id,
            action,
            lambda: change(ledger, item.kind, item.business_key, note),
        )

    route.__name__ = f"{action}_item"
    return route


for _path, _done, _change_it in (
    ("release", "released", operator_actions.release),
    ("close", "closed", operator_actions.close),
    ("reopen", "reopened", operator_actions.reopen),
):
    router.add_api_route(
        f"/items/{{item_id}}/{_path}",
        _change(_done, _change_it),
        methods=["POST"],
        response_class=HTMLResponse,
    )


def _acted(
    request: Request,
    render: Render,
    store: Store,
    item_id: int,
    done: str,
    action: Callable[[], Any],
) -> Response:
    try:
        action()
    except ActionRefused as exc:
        return _page(render, store, item_id, error=str(exc), status=refusal_status(exc))
    return RedirectResponse(f"{base_path(request)}/items/{item_id}?done={done}", 303)
