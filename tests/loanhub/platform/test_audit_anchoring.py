"""The head is anchored without anyone remembering to: after every loanhub task (the callback
``defaults.default_args`` puts on each, run by Airflow's task runner on the worker) and by the
hourly ``audit_anchor`` DAG's task. Plain-function tests: the callback and the task as
Airflow calls them, on an embedded store of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dags.support.anchors import anchor_audit_head
from dags.support.defaults import default_args
from loanhub.platform import audit
from loanhub.platform.audit_keys import use_audit_keyring
from loanhub.runtime import tasks


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tasks.Hub]:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOANHUB_AUDIT__ANCHOR_DIR", str(tmp_path / "anchors"))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    monkeypatch.setattr(tasks.Hub, "_current", None)
    here = tasks.Hub.here()
    yield here
    here.engine.dispose()
    use_audit_keyring(None)


def _append(hub: tasks.Hub, n: int) -> None:
    for i in range(n):
        with hub.engine.begin() as conn:
            audit.append(conn, actor="loanhub", action="test.event", subject=f"AP{i}")


def test_every_task_anchors_when_it_ends(hub: tasks.Hub, tmp_path: Path) -> None:
    args = default_args(1, __import__("datetime").timedelta(minutes=1))
    assert anchor_audit_head in args["on_success_callback"]
    assert anchor_audit_head in args["on_failure_callback"]
    _append(hub, 3)
    anchor_audit_head({})
    anchor_audit_head({})  # the head did not move: no second file
    _append(hub, 2)
    anchor_audit_head({})
    names = sorted(p.name[:19] for p in (tmp_path / "anchors").iterdir())
    assert names == ["anchor-000000000003", "anchor-000000000005"]
    report = audit.verify(hub.engine, ring=hub.audit_keyring)
    assert report.ok
    assert report.anchors == 2


def test_the_hourly_task_anchors_even_an_unmoved_head(hub: tasks.Hub, tmp_path: Path) -> None:
    _append(hub, 1)
    assert tasks.anchor_audit() == {"anchored": 1, "seq": 1}
    assert tasks.anchor_audit() == {"anchored": 1, "seq": 1}
    assert len(list((tmp_path / "anchors").iterdir())) == 2


def test_a_failed_anchor_never_fails_the_task(
    hub: tasks.Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _append(hub, 1)
    (tmp_path / "anchors").write_text("not a directory", encoding="utf-8")
    anchor_audit_head({})
    assert "audit chain not anchored" in caplog.text
