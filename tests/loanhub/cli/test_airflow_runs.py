"""``loanhub harvest`` and ``reviews`` when Airflow cannot be used (their happy path, against a
real Airflow: tests/dags/test_rest_harvest.py)."""

import pytest
from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


@pytest.mark.parametrize("command", [["harvest", "APP000001"], ["reviews"]])
def test_an_airflow_that_does_not_answer_is_one_line(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_AIRFLOW_API__URL", "http://127.0.0.1:1")
    assert_refused(runner.invoke(app, command), 1, "Airflow's API at http://127.0.0.1:1 did not")


def test_a_batch_size_below_one_is_a_usage_error() -> None:
    assert_refused(runner.invoke(app, ["harvest", "--batch-size", "0"]), 2, "--batch-size")
