"""``loanhub archive run|list|verify``: with the case-file renderer the deployment has
(``loanhub.flows.casefile.render``), in the archive's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.casebook import add_application, decide, long_ago, person
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


@pytest.fixture
def renderer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The deployment's own case-file renderer, archiving under ``tmp_path``."""
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    return tmp_path / "archive"


def _closed_and_open(engine: Engine) -> None:
    add_application(engine, "AP0000000001", person(), status="REJECTED", at=long_ago(3))
    decide(engine, "AP0000000001", "REJECT", long_ago(3))
    add_application(engine, "AP0000000002", person(), status="GATHERING", at=long_ago(1))


def test_run_list_verify(pg_url: str, pg_engine: Engine, renderer: Path, tmp_path: Path) -> None:
    _closed_and_open(pg_engine)
    run = runner.invoke(app, ["archive", "run", "--url", pg_url])
    assert run.exit_code == 0, run.output
    assert "archived AP0000000001 (rejected)" in run.output
    assert "1 archived, 0 failed" in run.output
    [archived] = renderer.glob("AP0000000001.*.html")
    html = archived.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html  # the bank reads Chinese first
    assert "AP0000000001" in html
    assert "0 archived, 0 failed" in runner.invoke(app, ["archive", "run", "--url", pg_url]).output

    listed = runner.invoke(app, ["archive", "list", "--url", pg_url])
    assert "AP0000000001  rejected" in listed.output
    assert "1 archived case file(s)" in listed.output

    ok = runner.invoke(app, ["archive", "verify", "AP0000000001", "--url", pg_url])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    [path] = (tmp_path / "archive").glob("AP0000000001.*.html")
    path.write_bytes(path.read_bytes() + b"<!-- edited -->")
    broken = runner.invoke(app, ["archive", "verify", "AP0000000001", "--url", pg_url])
    assert_refused(broken, 1, "BROKEN")


def test_refusals(pg_url: str, pg_engine: Engine, renderer: Path) -> None:
    _closed_and_open(pg_engine)
    assert_refused(
        runner.invoke(app, ["archive", "run", "--application", "AP0000000002", "--url", pg_url]),
        2,
        "AP0000000002 is not closed",
    )
    assert_refused(
        runner.invoke(app, ["archive", "verify", "AP0000000002", "--url", pg_url]),
        2,
        "AP0000000002 is not archived",
    )
