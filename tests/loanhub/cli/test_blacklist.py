from sqlalchemy import Engine
from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()
PERSON = "11010519491231002X"


def test_list_lift_and_the_identifier_stays_masked(sqlite_engine: Engine) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    added = runner.invoke(
        app, ["blacklist", "add", PERSON, "--reason", "fraud", "--by", "ops.li", "--url", url]
    )
    assert added.exit_code == 0, added.output
    assert "listed" in added.output
    listed = runner.invoke(app, ["blacklist", "list", "--url", url])
    assert "1 entry" in listed.output
    assert PERSON not in listed.output
    lifted = runner.invoke(app, ["blacklist", "lift", PERSON, "--by", "ops.li", "--url", url])
    assert lifted.exit_code == 0, lifted.output
    assert "lifted" in lifted.output
    again = runner.invoke(app, ["blacklist", "lift", PERSON, "--by", "ops.li", "--url", url])
    assert_refused(again, 1, "was not listed")


def test_a_bad_identifier_is_a_usage_error_before_the_store_is_opened() -> None:
    nowhere = "postgresql://postgres@127.0.0.1:1/x"  # never reached
    for args in (["add", "123", "--reason", "r", "--by", "me"], ["lift", "123", "--by", "me"]):
        result = runner.invoke(app, ["blacklist", *args, "--url", nowhere])
        assert_refused(result, 2, "neither a resident ID")
