"""``loanhub dashboard-user``: the book of who may log in, and its refusals."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    return tmp_path


def test_add_list_remove(book: Path) -> None:
    added = runner.invoke(
        app, ["dashboard-user", "add", "li", "--role", "operator"], input="pw\npw\n"
    )
    assert added.exit_code == 0, added.output
    assert "li  operator" in runner.invoke(app, ["dashboard-user", "list"]).output
    assert runner.invoke(app, ["dashboard-user", "remove", "li"]).exit_code == 0
    assert_refused(runner.invoke(app, ["dashboard-user", "remove", "li"]), 1, "no user li")


def test_an_unknown_role_and_an_empty_password_are_refused(book: Path) -> None:
    unknown = ["dashboard-user", "add", "li", "--role", "king", "--password", "pw"]
    assert_refused(runner.invoke(app, unknown), 2, "'king' is not a role: viewer or operator")
    empty = ["dashboard-user", "add", "li", "--password", ""]
    assert_refused(runner.invoke(app, empty), 1, "a user needs a name and a password")


def test_the_dashboard_refuses_a_port_out_of_range() -> None:
    assert_refused(runner.invoke(app, ["dashboard", "--port", "70000"]), 2, "--port")
