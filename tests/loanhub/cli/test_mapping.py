"""``loanhub mapping check`` on bad input (its happy path: tests/mappings/test_engine.py)."""

from pathlib import Path

from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mapping", "check", "bureau_personal", str(tmp_path / "r.xml")])
    assert_refused(result, 2, "does not exist")


def test_a_param_without_a_value_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "r.xml").write_text("<report/>")
    result = runner.invoke(
        app, ["mapping", "check", "bureau_personal", str(tmp_path / "r.xml"), "--param", "reason"]
    )
    assert_refused(result, 2, "expected key=value, got 'reason'")


def test_an_unknown_mapping_names_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "r.xml").write_text("<report/>")
    result = runner.invoke(app, ["mapping", "check", "no_such_source", str(tmp_path / "r.xml")])
    assert_refused(result, 2, "bureau_personal")


def test_a_file_that_is_not_the_source_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "r.xml").write_text("name,id\n")
    result = runner.invoke(app, ["mapping", "check", "bureau_personal", str(tmp_path / "r.xml")])
    assert_refused(result, 1, "is not a bureau_personal source")
