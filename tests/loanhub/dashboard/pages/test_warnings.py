"""Acknowledging a warning: operators only, with the session's form token, once (a second
post changes and audits nothing)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.loanhub.dashboard.pages.conftest import Hub, sign_in
from tests.loanhub.dashboard.seed import seed


def scalar(hub: Hub, sql: str, **params) -> int:
    with hub.store.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def an_open_warning(hub: Hub) -> str:
    return scalar(hub, "SELECT min(warning_key) FROM early_warning WHERE acknowledged_at IS NULL")


def acknowledged(hub: Hub, key: str) -> tuple[int, int]:
    """(acknowledged, audited) for ``key``."""
    return (
        scalar(
            hub,
            "SELECT count(*) FROM early_warning WHERE warning_key = :k "
            "AND acknowledged_at IS NOT NULL",
            k=key,
        ),
        scalar(
            hub,
            "SELECT count(*) FROM audit_event WHERE action = 'warning.acknowledged' "
            "AND subject = :k",
            k=key,
        ),
    )


def test_a_stale_form_or_a_viewer_acknowledges_nothing(client: TestClient, hub: Hub):
    seed(hub.store, hub.settings.screen_evidence_dir)
    key = an_open_warning(hub)
    anonymous = client.post("/warnings/acknowledge", data={"warning_key": key, "csrf": "x"})
    assert anonymous.headers["location"] == "/login?next=/warnings/acknowledge"
    token = sign_in(client, "vera")
    viewer = client.post("/warnings/acknowledge", data={"warning_key": key, "csrf": token})
    assert viewer.status_code == 403
    client.cookies.clear()
    token = sign_in(client, "otto")
    stale = client.post("/warnings/acknowledge", data={"warning_key": key, "csrf": "old"})
    assert stale.status_code == 403
    assert client.post("/warnings/acknowledge", data={"warning_key": key}).status_code == 403
    assert acknowledged(hub, key) == (0, 0)


def test_an_operator_acknowledges_once(client: TestClient, hub: Hub):
    seed(hub.store, hub.settings.screen_evidence_dir)
    key = an_open_warning(hub)
    token = sign_in(client, "otto")
    for _ in range(2):
        done = client.post("/warnings/acknowledge", data={"warning_key": key, "csrf": token})
        assert done.status_code == 303
        assert done.headers["location"] == "/warnings"
    assert acknowledged(hub, key) == (1, 1)
    assert f'data-key="{key}"' not in client.get("/warnings").text


def test_an_acknowledgement_the_audit_chain_cannot_record_is_not_made(
    client: TestClient, hub: Hub, monkeypatch
):
    """The acknowledgement and its audit event are one transaction: when the append fails,
    the warning stays open (it is not acknowledged by nobody)."""
    from loanhub.platform import audit

    seed(hub.store, hub.settings.screen_evidence_dir)
    key = an_open_warning(hub)
    token = sign_in(client, "otto")

    def broken(*args, **kwargs):
        raise RuntimeError("the audit chain is unavailable")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(RuntimeError, match="audit chain"):
        client.post("/warnings/acknowledge", data={"warning_key": key, "csrf": token})
    monkeypatch.undo()
    assert acknowledged(hub, key) == (0, 0)
    done = client.post("/warnings/acknowledge", data={"warning_key": key, "csrf": token})
    assert done.status_code == 303
    assert acknowledged(hub, key) == (1, 1)
