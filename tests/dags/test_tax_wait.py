"""The deferred tax wait against the SFTP simulator: the trigger (reading the ``loanhub_sftp``
connection, as the triggerer does) wakes on the answer's ``.ok``, not on a delivery the hub
already refused, and the operator defers rather than holding a slot while no answer is there."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta

import pytest
from airflow.sdk.exceptions import TaskDeferred

from connectors.tax import ANSWERS
from contracts.tax_files import answer_name
from dags.support.tax_wait import TaxAnswerOperator
from devtools.sim_connections import sftp_connection_env
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub
from loanhub_provider.triggers.sftp import SftpFileTrigger
from tests.connectors.test_tax import queries

# the answer takes a second (so the first look finds nothing), and its first delivery is cut
SLOW_THEN_TRUNCATED = {
    "tax": {"*": {"answer_delay": 1.0}, "answer": {"fault": "truncated", "times": 1}}
}


@pytest.fixture
def hub(monkeypatch, sim, sim_dir, sim_endpoints, pg_url, tmp_path) -> Hub:
    for name, value in sftp_connection_env(sim_endpoints).items():
        monkeypatch.setenv(name, value)  # what the trigger reads: Airflow's connection only
    settings = HubSettings(
        database_url=pg_url,
        sim_dir=sim_dir,
        data_dir=tmp_path,
        orchestration={"tax_wait_seconds": 600},
    )
    monkeypatch.setattr(Hub, "_current", Hub(settings))
    return Hub.here()


def answer_trigger(request: str, seen: str = "") -> SftpFileTrigger:
    answer = answer_name(request)
    return SftpFileTrigger(
        ANSWERS, re.escape(answer), seen={answer: seen} if seen else {}, poke_seconds=0.2
    )


def first_event(trigger: SftpFileTrigger, seconds: float) -> dict | None:
    async def wait() -> dict | None:
        events = trigger.run()
        try:
            return (await asyncio.wait_for(anext(events), seconds)).payload
        except TimeoutError:
            return None
        finally:
            await events.aclose()

    return asyncio.run(wait())


def test_the_trigger_wakes_on_each_new_delivery_only(hub, sim, sim_dataset):
    sim.controls(SLOW_THEN_TRUNCATED)
    name = hub.connectors.tax.submit(queries(sim_dataset), date(2026, 11, 21), 31)
    event = first_event(answer_trigger(name), 10)
    assert event is not None
    assert list(event["files"]) == [answer_name(name)]
    refused = event["files"][answer_name(name)]
    assert first_event(answer_trigger(name, refused), 1.5) is None
    sim.post("/tax/redeliver", {"request": name})
    again = first_event(answer_trigger(name, refused), 10)
    assert again is not None
    assert again["files"][answer_name(name)] != refused


def test_the_operator_defers_until_the_answer_then_waits_past_a_refused_one(hub, sim, sim_dataset):
    sim.controls(SLOW_THEN_TRUNCATED)
    batch: list[str] = []  # no applicants to link: the answer's rows are stored as they come
    name = hub.connectors.tax.submit(queries(sim_dataset), date(2026, 11, 21), 32)
    task = TaxAnswerOperator(task_id="tax_answer", request={"request": name, "batch": batch})
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    assert deferred.value.method_name == "collect"
    assert deferred.value.timeout == timedelta(seconds=600)
    event = first_event(deferred.value.trigger, 10)
    assert event is not None
    with pytest.raises(Exception, match="truncated answer"):
        task.collect({}, event)  # the task fails with the cause; its retry runs execute again
    with pytest.raises(TaskDeferred) as refused:
        task.execute({})  # the refused file is no answer: wait again, past that delivery
    assert first_event(refused.value.trigger, 1.0) is not None  # fresh wait: still sees it
    with pytest.raises(TaskDeferred) as past:
        task.collect({}, event)
    assert past.value.trigger.seen == event["files"]
    assert first_event(past.value.trigger, 1.5) is None
    sim.post("/tax/redeliver", {"request": name})
    redelivered = first_event(past.value.trigger, 10)
    assert task.collect({}, redelivered) == name


def test_a_wait_resumed_after_its_answer_was_deleted_waits_on_the_request_asked_again(
    hub, sim, sim_endpoints, sim_dataset
):
    """The authority deleted the answer (7 days) before the hub took it: the operator asks
    again under a new name, waits on that one, and a retry does not ask a third time."""
    from tests.loanhub.flows.test_tax_requests import age, deleted, until

    name = hub.connectors.tax.submit(queries(sim_dataset), date(2026, 5, 6), 1)
    until(lambda: hub.connectors.tax.answered(name))
    age(sim_endpoints, name, 8)
    until(lambda: deleted(sim_endpoints, name))
    task = TaxAnswerOperator(task_id="tax_answer", request={"request": name, "batch": []})
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    again = deferred.value.trigger.pattern.replace("\\", "").replace("TAXR_", "TAXQ_")
    assert again != name
    event = first_event(deferred.value.trigger, 10)
    assert event is not None
    assert task.collect({}, event) == again
    assert task.execute({}) == again  # a retry of the task: the same request, taken
    assert [r["file"] for r in sim.journal("tax", "request")] == [name, again]
