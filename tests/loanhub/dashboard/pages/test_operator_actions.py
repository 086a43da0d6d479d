"""The operator's actions on the dashboard, route by route (FastAPI's TestClient over an
emptied PostgreSQL store): every POST takes the operator role and the session's token before
it does anything, a viewer sees no form and is refused (403), a refusal changes and audits
nothing and says why, and each action leaves its audit event. The browser and the legacy
systems' readings are in ``tests/loanhub/dashboard/test_operator_pages.py``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kernel.failures import FailureKind
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.quarantine import quarantine
from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import FileState, WorkItemState
from schemas.tables import audit_event, file_receipt, work_item
from tests.loanhub.dashboard.pages.conftest import Hub, sign_in


def audited(engine: Engine, prefix: str) -> list[tuple[str, str, dict]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(audit_event.c.actor, audit_event.c.action, audit_event.c.after)
                .where(audit_event.c.action.like(f"{prefix}%"))
                .order_by(audit_event.c.seq)
            )
        ]


def stuck(hub: Hub) -> dict[str, int]:
    """One item in each state an operator acts on, and a file and a quarantined record."""
    ledger = WorkItemLedger(hub.store, owner="w1")
    waiting = ledger.needs_human(ledger.claim("payee_account", "AP-D1", {"a": 1}), "no account")
    failed = ledger.fail(ledger.claim("payment", "E-D1", {"e": 1}), FailureKind.BUSINESS, "AC04")
    doubt = ledger.mark_in_doubt(ledger.claim("warning_mail", "W-D1", {"to": []}), "no 250")
    book = FileReceiptBook(hub.store)
    book.record("core", "LNREPAY.D261120", "b" * 64, 100)
    book.mark("core", "LNREPAY.D261120", "b" * 64, FileState.REJECTED, "trailer count")
    with hub.store.begin() as conn:
        quarantine(conn, source_system="ss", source_ref="ss:page", record_ref="m#1", reason="x")
    with hub.store.connect() as conn:
        receipt = conn.execute(select(file_receipt.c.id)).scalar_one()
    return {
        "waiting": waiting.id,
        "failed": failed.id,
        "doubt": doubt.id,
        "receipt": receipt,
    }


def posts(ids: dict[str, int]) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/items/{ids['waiting']}/close", {"note": "n"}),
        (f"/items/{ids['waiting']}/release", {"note": "n"}),
        (f"/items/{ids['failed']}/release", {"note": "n"}),
        (f"/items/{ids['doubt']}/read", {}),
        (f"/items/{ids['doubt']}/settle", {"outcome": "release", "note": "n"}),
        (f"/files/{ids['receipt']}/retake", {"note": "n"}),
        ("/quarantine/reprocess", {"source_system": "ss", "source_ref": "ss:page", "note": "n"}),
    ]


def states(hub: Hub) -> list[str]:
    with hub.store.connect() as conn:
        items = conn.execute(select(work_item.c.state).order_by(work_item.c.id)).scalars()
        files = conn.execute(select(file_receipt.c.state)).scalars()
        return [*items, *files]


def test_a_viewer_sees_no_form_and_every_post_of_hers_is_refused(client: TestClient, hub: Hub):
    ids = stuck(hub)
    before = states(hub)
    for path, data in posts(ids):  # anonymous: to the login page, nothing done
        answer = client.post(path, data={**data, "csrf": "x"})
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    token = sign_in(client, "vera")
    for page in (f"/items/{ids['waiting']}", f"/items/{ids['doubt']}", "/files", "/queues"):
        html = client.get(page).text
        assert '<form method="post" action="/items' not in html, page
        assert "/retake" not in html, page
        assert "/quarantine/reprocess" not in html, page
    for path, data in posts(ids):
        assert client.post(path, data={**data, "csrf": token}).status_code == 403, path
    assert states(hub) == before
    assert audited(hub.store, "operator.") == []
    assert audited(hub.store, "file.") == []


def test_a_stale_or_missing_token_is_refused_before_anything(client: TestClient, hub: Hub):
    ids = stuck(hub)
    before = states(hub)
    sign_in(client, "otto")
    for path, data in posts(ids):
        assert client.post(path, data={**data, "csrf": "stale"}).status_code == 403, path
        assert client.post(path, data=data).status_code == 403, path
    assert states(hub) == before
    assert audited(hub.store, "operator.") == []


def test_an_operator_closes_reopens_and_releases_with_notes(client: TestClient, hub: Hub):
    ids = stuck(hub)
    token = sign_in(client, "otto")
    page = client.get(f"/items/{ids['waiting']}").text
    assert f'action="/items/{ids["waiting"]}/close"' in page
    assert f'action="/items/{ids["waiting"]}/reopen"' not in page
    empty = client.post(f"/items/{ids['waiting']}/close", data={"csrf": token, "note": " "})
    assert empty.status_code == 400
    assert "needs a note" in empty.text
    done = client.post(
        f"/items/{ids['waiting']}/close", data={"csrf": token, "note": "paid at the counter"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/items/{ids['waiting']}?done=closed"
    page = client.get(done.headers["location"]).text
    assert "Closed: a person settled it outside the hub." in page
    assert f'action="/items/{ids["waiting"]}/reopen"' in page
    assert "paid at the counter" in page  # the item's trail
    again = client.post(f"/items/{ids['waiting']}/close", data={"csrf": token, "note": "x"})
    assert again.status_code == 409
    assert "only a NEEDS_HUMAN item is closed" in again.text
    client.post(f"/items/{ids['waiting']}/reopen", data={"csrf": token, "note": "not paid"})
    client.post(f"/items/{ids['failed']}/release", data={"csrf": token, "note": "account open"})
    ledger = WorkItemLedger(hub.store)
    assert ledger.get("payee_account", "AP-D1").state is WorkItemState.NEEDS_HUMAN
    released = ledger.get("payment", "E-D1")
    assert (released.state, released.failure_kind) == (WorkItemState.FAILED, "transient")
    assert [(a, act, after["note"]) for a, act, after in audited(hub.store, "operator.")] == [
        ("dashboard:otto", "operator.closed", "paid at the counter"),
        ("dashboard:otto", "operator.reopened", "not paid"),
        ("dashboard:otto", "operator.released", "account open"),
    ]
    queues = client.get("/queues").text
    assert f'href="/items/{ids["failed"]}" class="act"' not in queues  # released: not listed


def test_files_are_retaken_and_quarantine_refusals_are_said(client: TestClient, hub: Hub):
    ids = stuck(hub)
    token = sign_in(client, "otto")
    files = client.get("/files").text
    assert f'action="/files/{ids["receipt"]}/retake"' in files
    assert "the portal&#39;s pages are not kept" in files  # ss: no reprocess form, the reason
    refused = client.post(
        "/quarantine/reprocess",
        data={"csrf": token, "source_system": "ss", "source_ref": "ss:page", "note": "x"},
    )
    assert refused.status_code == 409
    assert "Refused, nothing changed" in refused.text
    done = client.post(f"/files/{ids['receipt']}/retake", data={"csrf": token, "note": "fixed"})
    assert (done.status_code, done.headers["location"]) == (303, "/files?done=retaken")
    assert FileReceiptBook(hub.store).state("core", "LNREPAY.D261120", "b" * 64) is (
        FileState.RECEIVED
    )
    twice = client.post(f"/files/{ids['receipt']}/retake", data={"csrf": token, "note": "x"})
    assert twice.status_code == 409
    assert "not taken yet" in twice.text
    [(actor, action, after)] = audited(hub.store, "file.")
    assert (actor, action, after["note"]) == ("dashboard:otto", "file.retake", "fixed")
    with hub.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_event)).scalar_one() >= 2


@pytest.mark.parametrize("state", ["NEEDS_HUMAN", "CLOSED"])
def test_an_item_page_offers_only_what_its_state_allows(client: TestClient, hub: Hub, state):
    ledger = WorkItemLedger(hub.store, owner="w1", actor="otto")
    item = ledger.needs_human(ledger.claim("payee_account", "AP-S", {"a": 1}), "no account")
    if state == "CLOSED":
        item = ledger.close(item, "done elsewhere")
    sign_in(client, "otto")
    page = client.get(f"/items/{item.id}").text
    offered = {a for a in ("read", "settle", "release", "close", "reopen") if f'/{a}"' in page}
    assert offered == ({"release", "close"} if state == "NEEDS_HUMAN" else {"reopen"})
    assert client.get("/items/999999").status_code == 404
