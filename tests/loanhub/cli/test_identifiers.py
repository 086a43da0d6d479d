import pytest
from typer.testing import CliRunner

from loanhub.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("value", "code", "says"),
    [
        ("11010519491231002X", 0, "valid resident ID 1****************X"),
        ("110105194912310021", 1, "expected 'X'"),
        ("91350100M000100Y43", 0, "valid USCC"),
        ("91350100M000100Y44", 1, "invalid USCC"),
        ("4111111111111111", 0, "passes the Luhn check"),
        ("4111111111111112", 1, "fails the Luhn check"),
        ("abc", 1, "not an identifier"),
    ],
)
def test_id_check(value: str, code: int, says: str) -> None:
    result = runner.invoke(app, ["id", "check", value])
    assert result.exit_code == code
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert says in " ".join(result.output.split())
    assert "110105194912310021" not in result.output
