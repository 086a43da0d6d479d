"""A distributed run that works here: api-server, scheduler, dag-processor, triggerer and two
Celery workers on loopback (local PostgreSQL and Redis), credit_harvest for 100 applications
triggered through the REST API, one worker SIGKILLed while it runs bureau tasks."""

from __future__ import annotations

from pathlib import Path

from devtools.distributed import POOLS, WATCHED, run


def test_a_harvest_survives_losing_a_celery_worker(tmp_path: Path):
    result = run(tmp_path, applications=100, workers=2, kill_one=True)
    summary = result.summary()

    assert result.state == "success", summary
    assert set(result.task_states) == {"success"}, summary  # every task, retried ones too
    assert result.killed is not None
    assert result.left_by_killed >= 1  # it died with tasks in hand
    assert max(result.tries) >= 2, summary  # what it held ran again elsewhere
    # both workers ran tasks (the killed one's retried tasks are the survivor's now, but the
    # tasks it finished before dying stay its own)
    assert set(result.tasks_by_worker) == {"worker1", "worker2"}, summary
    # no legacy system saw more clients at once than its pool allows
    for system, pool in WATCHED.items():
        assert 1 <= result.peaks[system] <= POOLS[pool], (system, summary)
    # the killed attempt's queries and the retry's were one query per application and reason
    assert len(result.bureau_queries) == 100, summary
    assert set(result.bureau_queries.values()) == {1}, summary
    # every process the run started is gone, the killed worker's orphans included
    assert result.started
    assert result.survivors == [], summary
