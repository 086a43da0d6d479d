"""``loanhub dashboard-user``: the book of who may log in, and its refusals."""

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


PASSWORD = "Strong-pass-4242"


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str, pg_engine: Engine) -> Path:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOANHUB_DATABASE_URL", pg_url)  # where the changes are audited
    return tmp_path


def test_add_list_remove_each_audited(book: Path, pg_engine: Engine) -> None:
    typed = f"{PASSWORD}\n{PASSWORD}\n"
    added = runner.invoke(app, ["dashboard-user", "add", "li", "--role", "operator"], input=typed)
    assert added.exit_code == 0, added.output
    assert "li  operator" in runner.invoke(app, ["dashboard-user", "list"]).output
    again = ["dashboard-user", "add", "li", "--password", "Other-pass-4242"]
    assert runner.invoke(app, again).exit_code == 0
    assert runner.invoke(app, ["dashboard-user", "remove", "li"]).exit_code == 0
    assert_refused(runner.invoke(app, ["dashboard-user", "remove", "li"]), 1, "no user li")
    with pg_engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, action, subject FROM audit_event ORDER BY seq"))
        found = [(actor.split(":")[0], action, subject) for actor, action, subject in rows]
    assert found == [
        ("cli", "dashboard.user_added", "li"),
        ("cli", "dashboard.user_changed", "li"),
        ("cli", "dashboard.user_removed", "li"),
    ]


def test_a_weak_password_is_refused(book: Path) -> None:
    weak = ["dashboard-user", "add", "li", "--password", "li-password"]
    assert_refused(runner.invoke(app, weak), 1, "at least 12 characters")
    assert "li" not in runner.invoke(app, ["dashboard-user", "list"]).output


def test_an_unknown_role_and_an_empty_password_are_refused(book: Path) -> None:
    unknown = ["dashboard-user", "add", "li", "--role", "king", "--password", "pw"]
    assert_refused(runner.invoke(app, unknown), 2, "'king' is not a role: viewer or operator")
    empty = ["dashboard-user", "add", "li", "--password", ""]
    assert_refused(runner.invoke(app, empty), 1, "a user needs a name and a password")


def test_the_dashboard_refuses_a_port_out_of_range() -> None:
    assert_refused(runner.invoke(app, ["dashboard", "--port", "70000"]), 2, "--port")


def test_the_dashboard_writes_a_masked_access_log_line_per_request(book: Path) -> None:
    """``loanhub dashboard`` installs the log masking; uvicorn's access log still works under
    it (one line per request, its path masked) and no logging error is printed."""
    import os
    import subprocess
    import sys
    import time

    import requests

    from devtools.cluster import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "loanhub", "dashboard", "--port", str(port)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/login?next=/case?q=11010519491231002X", timeout=5
                )
                break
            except requests.ConnectionError:
                assert server.poll() is None, "the dashboard stopped"
                assert time.monotonic() < deadline, "no dashboard"
                time.sleep(0.3)
        assert answer.status_code == 200
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    assert '"GET /login?next=/case?q=1****************X HTTP/1.1" 200' in log, log
    assert "11010519491231002X" not in log
    assert "Logging error" not in log, log
    assert "Traceback" not in log, log
