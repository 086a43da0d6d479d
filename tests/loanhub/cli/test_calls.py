from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from typer.testing import CliRunner

from kernel.calls import CallOutcome, SourceCall
from loanhub.cli import app
from loanhub.platform.calls import CallJournal
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_old_calls_are_purged(pg_url: str, pg_engine: Engine) -> None:
    journal = CallJournal(pg_engine)
    for age in (1, 40, 200):
        journal(
            SourceCall(
                system="tax",
                operation="submit",
                started_at=datetime.now(UTC) - timedelta(days=age),
                duration_ms=5,
                outcome=CallOutcome.OK,
            )
        )
    assert (
        "purged 1 call(s) older than 90 days"
        in runner.invoke(app, ["calls", "purge", "--url", pg_url]).output
    )
    assert (
        "purged 1 call(s) older than 30 days"
        in runner.invoke(app, ["calls", "purge", "--days", "30", "--url", pg_url]).output
    )


def test_negative_days_are_a_usage_error(pg_url: str) -> None:
    result = runner.invoke(app, ["calls", "purge", "--days", "-5", "--url", pg_url])
    assert_refused(result, 2, "--days")
