"""``loanhub db`` and the store every ``--url`` command opens: a URL that is not a store, or a
store that does not answer, is one line and exit 1."""

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform.db import MIGRATIONS_DIR
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_upgrade_then_current_names_the_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/loanhub.db"
    assert runner.invoke(app, ["db", "current", "--url", url]).output.startswith("empty")
    upgraded = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert upgraded.exit_code == 0, upgraded.output
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert runner.invoke(app, ["db", "current", "--url", url]).output.strip() == head


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nonsense", "not a store URL"),
        ("foo://somewhere/db", "unknown kind of store 'foo'"),
        ("postgresql://postgres@127.0.0.1:1/x", "127.0.0.1:1/x is unavailable"),
        ("sqlite:////proc/no/such/dir/loanhub.db", "cannot open the store at"),
    ],
)
def test_a_store_that_cannot_be_opened_is_one_line(url: str, says: str) -> None:
    assert_refused(runner.invoke(app, ["db", "current", "--url", url]), 1, says)


def test_the_password_of_an_unreachable_store_is_not_printed() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--url", "postgresql://u:s3cret@127.0.0.1:1/x"])
    assert_refused(result, 1, "u:***@127.0.0.1:1/x is unavailable")
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    "command",
    [["audit", "verify"], ["blacklist", "list"], ["calls", "purge"]],
)
def test_commands_that_read_tables_ask_for_a_migrated_store(
    command: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(app, [*command, "--url", f"sqlite:///{tmp_path}/empty.db"])
    assert_refused(result, 1, "has no schema yet (run: loanhub db upgrade)")


def test_a_setting_that_does_not_parse_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOANHUB_RETENTION__CALL_DAYS", "often")
    assert_refused(runner.invoke(app, ["calls", "purge"]), 1, "settings refused: retention")
