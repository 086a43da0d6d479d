"""``/evidence``: operators only (the router's rule, the screenshot too), 404 for what is not
there, and nothing shown for evidence recorded outside the masked areas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from schemas.tables import work_item
from tests.loanhub.dashboard.pages.conftest import Hub, sign_in
from tests.loanhub.dashboard.seed import seed


def stuck(hub: Hub, error: str) -> int:
    now = datetime.now(UTC)
    with hub.store.begin() as conn:
        return conn.execute(
            insert(work_item)
            .values(
                kind="ss_history",
                business_key="k",
                payload={},
                payload_hash="0" * 64,
                state="NEEDS_HUMAN",
                attempts=1,
                error=error,
                created_at=now,
                updated_at=now,
            )
            .returning(work_item.c.id)
        ).scalar_one()


@pytest.mark.parametrize("path", ["/evidence/{id}", "/evidence/{id}/screen.png"])
def test_only_operators_see_evidence(client: TestClient, hub: Hub, path: str):
    item = seed(hub.store, hub.settings.screen_evidence_dir).evidence_item
    url = path.format(id=item)
    assert client.get(url).headers["location"] == f"/login?next={url}"
    sign_in(client, "vera")
    assert client.get(url).status_code == 403
    client.cookies.clear()
    sign_in(client, "otto")
    assert client.get(url).status_code == 200


def test_missing_items_and_screens_are_404(client: TestClient, hub: Hub):
    sign_in(client, "otto")
    assert client.get("/evidence/999999").status_code == 404
    assert client.get("/evidence/999999/screen.png").status_code == 404
    plain = stuck(hub, "gateway: upload timed out")  # no evidence recorded at all
    assert client.get(f"/evidence/{plain}/screen.png").status_code == 404
    assert "No evidence was filed" in client.get(f"/evidence/{plain}").text


def test_evidence_outside_the_masked_areas_is_not_shown(client: TestClient, hub: Hub, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "reason.txt").write_text("raw page text", encoding="utf-8")
    (outside / "screen.png").write_bytes(b"\x89PNG")
    forged = stuck(hub, f"ss: odd screen [evidence: {outside}]")
    sign_in(client, "otto")
    page = client.get(f"/evidence/{forged}")
    assert page.status_code == 200
    assert "raw page text" not in page.text
    assert "No evidence was filed" in page.text
    assert client.get(f"/evidence/{forged}/screen.png").status_code == 404
