"""How a refused command must look: a non-zero exit, the reason said, no traceback."""

from __future__ import annotations

from click.testing import Result


def assert_refused(result: Result, code: int, says: str) -> None:
    """``result`` ended with ``code`` and said ``says``, through ``typer.Exit`` or a usage
    error, not an exception escaping the command (CliRunner keeps that in ``exception``)."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert says in " ".join(result.output.replace("│", " ").split()), result.output
