"""The hub's notifier mails through the SMTP simulator over the ``loanhub_smtp`` connection:
a failed task's notice (called as Airflow calls a task callback) and a missed deadline's
(awaited, as the triggerer awaits an ``AsyncCallback``), both masked; a notice that cannot
be sent is logged, never raised."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime
from types import SimpleNamespace

from loanhub_provider.notifications import LoanhubMailNotifier
from schemas.identifiers import InvalidIdentifier, validate_resident_id

ID_NUMBER = "110101199003077774"  # valid checksum
MOBILE = "13912345678"


def clear_ids(text: str) -> list[str]:
    found = []
    for m in re.findall(r"(?<!\d)\d{17}[\dX](?!\d)", text):
        with contextlib.suppress(InvalidIdentifier):
            found.append(validate_resident_id(m))
    return found


def failed_task_context() -> dict:
    ti = SimpleNamespace(
        dag_id="credit_harvest",
        run_id="manual__2026-12-08T01:00:00+00:00",
        task_id="batch.bureau",
        map_index=2,
        try_number=3,
        log_url="http://airflow.bank.local/dags/credit_harvest/runs/x/tasks/batch.bureau",
    )
    error = RuntimeError(f"bureau refused subject {ID_NUMBER} (mobile {MOBILE})")
    return {"ti": ti, "task_instance": ti, "exception": error}


def test_a_failed_task_is_mailed_masked(sim, conn_env):
    LoanhubMailNotifier(to="ops@bank.local")(failed_task_context())
    (mail,) = sim.journal("smtp", "mail")
    assert mail["rcpt_tos"] == ["ops@bank.local"]
    assert mail["subject"] == "[loanhub] credit_harvest: task batch.bureau[2] failed"
    body = mail["body"]
    assert "manual__2026-12-08T01:00:00+00:00" in body
    assert "(try 3)" in body
    assert "RuntimeError: bureau refused subject" in body
    assert "/tasks/batch.bureau" in body  # the way to its log
    assert ID_NUMBER not in body
    assert MOBILE not in body
    assert not clear_ids(body)
    # the same failure reported twice is recognisably the same mail
    LoanhubMailNotifier(to="ops@bank.local")(failed_task_context())
    first, again = sim.journal("smtp", "mail")
    assert first["message_id"] == again["message_id"]


def test_the_recipients_default_to_the_setting(sim, conn_env, monkeypatch):
    monkeypatch.setenv("LOANHUB_ALERTS__RECIPIENTS", '["hub-ops@bank.local", "oncall@bank.local"]')
    LoanhubMailNotifier()(failed_task_context())
    (mail,) = sim.journal("smtp", "mail")
    assert mail["rcpt_tos"] == ["hub-ops@bank.local", "oncall@bank.local"]


def test_a_missed_deadline_is_mailed_when_awaited(sim, conn_env):
    """As the triggerer runs an AsyncCallback: the class built with its kwargs and the run's
    context (the API's JSON of the run, and the deadline), then awaited."""
    context = {
        "dag_run": {
            "dag_id": "repayment_sync",
            "dag_run_id": "scheduled__2026-12-08T18:30:00+00:00",
            "state": "running",
            "queued_at": "2026-12-08T18:30:02+00:00",
        },
        "deadline": {"id": "0193", "deadline_time": datetime(2026, 12, 9, 0, 45, tzinfo=UTC)},
    }

    async def triggerer() -> None:
        await LoanhubMailNotifier(to=["ops@bank.local"], what="Loaded by 08:45.", context=context)

    asyncio.run(triggerer())
    (mail,) = sim.journal("smtp", "mail")
    assert mail["subject"] == "[loanhub] repayment_sync: run not finished by its deadline"
    assert "scheduled__2026-12-08T18:30:00+00:00" in mail["body"]
    assert "2026-12-09T00:45:00+00:00" in mail["body"]
    assert "Loaded by 08:45." in mail["body"]


def test_a_notice_that_cannot_be_sent_is_logged_not_raised(sim, conn_env, caplog):
    sim.controls({"smtp": {"mail": {"fault": "busy", "times": 5}}})
    LoanhubMailNotifier(to="ops@bank.local")(failed_task_context())  # does not raise
    assert not sim.journal("smtp", "mail")
    assert "could not mail the failure notice" in caplog.text
    asyncio.run(_await(LoanhubMailNotifier(smtp_conn_id="no_such_connection", context={})))
    assert "could not mail the deadline notice" in caplog.text


async def _await(notifier: LoanhubMailNotifier) -> None:
    await notifier
