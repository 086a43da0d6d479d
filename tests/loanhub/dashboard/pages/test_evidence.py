"""``/evidence``: operators only (the router's rule, the screenshot too), 404 for what is not
there, and nothing shown for evidence recorded outside the masked areas: the path comes from
the item's own column (never its error text, which a legacy system writes into), and even
that is confined to the masked areas (resolved, no symlink out, no trace, no FIFO)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from loanhub.dashboard import evidence
from schemas.tables import work_item
from tests.loanhub.dashboard.pages.conftest import Hub, sign_in
from tests.loanhub.dashboard.seed import seed

_KEYS = itertools.count()


def stuck(hub: Hub, error: str, evidence: str | None = None) -> int:
    now = datetime.now(UTC)
    with hub.store.begin() as conn:
        return conn.execute(
            insert(work_item)
            .values(
                kind="ss_history",
                business_key=f"k{next(_KEYS)}",
                payload={},
                payload_hash="0" * 64,
                state="NEEDS_HUMAN",
                attempts=1,
                error=error,
                evidence=evidence,
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
    forged = stuck(hub, "ss: odd screen", evidence=str(outside))
    sign_in(client, "otto")
    page = client.get(f"/evidence/{forged}")
    assert page.status_code == 200
    assert "raw page text" not in page.text
    assert "No evidence was filed" in page.text
    assert client.get(f"/evidence/{forged}/screen.png").status_code == 404


def capture(hub: Hub, name: str = "cap") -> Path:
    """A bot's capture folder inside the screen area, as ``ScreenEvidence`` files it."""
    folder = hub.settings.screen_evidence_dir / "ss_history" / "abc" / name
    folder.mkdir(parents=True)
    (folder / "reason.txt").write_text("reason: masked screen\n", encoding="utf-8")
    (folder / "screen.png").write_bytes(b"\x89PNG masked")
    (folder / "trace.zip").write_bytes(b"PK unmasked DOM 110101199003077777")
    return folder


def test_a_crafted_fault_naming_a_path_serves_nothing(client: TestClient, hub: Hub, tmp_path):
    """The attack of issue 22: a legacy system's fault text says "[evidence: …]". The page
    used to parse the path out of the error; now only the hub's own column names evidence."""
    folder = capture(hub)
    secret = tmp_path / "secret.txt"
    secret.write_text("110101199003077777 SECRET-RAW", encoding="utf-8")
    sign_in(client, "otto")
    for named in (folder / "trace.zip", folder, secret, "../../x", f"{folder}/../../.."):
        item = stuck(hub, f"bureau: fault [evidence: {named}]")
        page = client.get(f"/evidence/{item}")
        assert page.status_code == 200
        assert "No evidence was filed" in page.text
        assert "SECRET-RAW" not in page.text
        assert "masked screen" not in page.text
        assert client.get(f"/evidence/{item}/screen.png").status_code == 404


@pytest.mark.parametrize("kind", ["trace", "dotdot", "relative", "symlink_out", "long"])
def test_the_column_is_confined_to_the_masked_areas(
    client: TestClient, hub: Hub, tmp_path, kind: str
):
    """Even the hub's own column is not trusted: a trace, a ``..`` or relative path, a
    symlink that leads out, a NUL or an over-long path shows nothing."""
    folder = capture(hub)
    outside = tmp_path / "out"
    outside.mkdir()
    (outside / "reason.txt").write_text("SECRET-RAW reason", encoding="utf-8")
    (outside / "screen.png").write_bytes(b"SECRET-RAW png")
    link = folder.parent / "link"
    link.symlink_to(outside)
    recorded = {
        "trace": str(folder / "trace.zip"),
        "dotdot": f"{folder}/../../../../{outside.name}",
        "relative": "../../out",
        "symlink_out": str(link),
        "long": str(folder) + "/" + "x" * 300,
    }[kind]
    item = stuck(hub, "ss: odd screen", evidence=recorded)
    sign_in(client, "otto")
    page = client.get(f"/evidence/{item}")
    assert page.status_code == 200
    assert "SECRET-RAW" not in page.text
    assert "No evidence was filed" in page.text
    assert client.get(f"/evidence/{item}/screen.png").status_code in (404,)


def test_symlinks_and_fifos_inside_a_capture_are_not_read(client: TestClient, hub: Hub, tmp_path):
    """A capture whose reason or screenshot is a symlink out, or a FIFO (which would block a
    plain read), shows neither; the page still answers at once."""
    folder = capture(hub)
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-RAW 110101199003077777", encoding="utf-8")
    (folder / "reason.txt").unlink()
    (folder / "reason.txt").symlink_to(secret)
    (folder / "screen.png").unlink()
    os.mkfifo(folder / "screen.png")
    item = stuck(hub, "ss: odd screen", evidence=str(folder))
    sign_in(client, "otto")
    page = client.get(f"/evidence/{item}")
    assert page.status_code == 200
    assert "SECRET-RAW" not in page.text
    assert client.get(f"/evidence/{item}/screen.png").status_code == 404


def test_a_capture_filed_in_the_column_is_shown(client: TestClient, hub: Hub):
    folder = capture(hub)
    item = stuck(hub, "ss: odd screen", evidence=str(folder))
    sign_in(client, "otto")
    assert "masked screen" in client.get(f"/evidence/{item}").text
    shot = client.get(f"/evidence/{item}/screen.png")
    assert shot.status_code == 200
    assert shot.content == b"\x89PNG masked"


def test_locate_refuses_what_no_column_should_hold(hub: Hub):
    folder = capture(hub)
    assert evidence.locate(hub.settings, str(folder)) == folder.resolve()
    for odd in (f"{folder}\x00", "cap", "", None, str(folder.parent.parent.parent)):
        assert evidence.locate(hub.settings, odd) is None
