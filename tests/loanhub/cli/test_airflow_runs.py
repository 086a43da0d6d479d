"""``loanhub harvest`` and ``reviews`` when Airflow cannot be used (their happy path, against a
real Airflow: tests/dags/test_rest_harvest.py)."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

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


class _Journal(BaseHTTPRequestHandler):
    """An Airflow that writes down every request it gets and answers none usefully."""

    seen: ClassVar[list[str]] = []

    def _note(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PATCH = do_PUT = _note

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def airflow_journal(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Journal)
    _Journal.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("LOANHUB_AIRFLOW_API__URL", f"http://127.0.0.1:{server.server_port}")
    yield _Journal.seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["reviews", "--answer", "APP000001"], "needs --option"),
        (["reviews", "--answer", "APP000001", "--comment", "ok"], "needs --option"),
        (["reviews", "--option", "Approve"], "without --answer"),
        (["reviews", "--answer", "APP000001", "--option", "approve!"], "--option"),
    ],
)
def test_an_answer_without_an_option_is_refused_before_airflow_hears_of_it(
    argv: list[str], says: str, airflow_journal: list[str]
) -> None:
    """The attack: ``reviews --answer APP`` used to approve (the option's default)."""
    assert_refused(runner.invoke(app, argv), 2, says)
    assert airflow_journal == []  # not even a login


def test_the_journal_hears_a_listing(airflow_journal: list[str]) -> None:
    """The journal can fail: a listing does reach it (and its 500 is one line)."""
    result = runner.invoke(app, ["reviews"])
    assert result.exit_code == 1
    assert airflow_journal
