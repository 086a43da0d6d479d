"""The audit chain's head, anchored at the end of every loanhub task (hence of every run).

Airflow 3.3.2 runs a task's ``on_success_callback`` and ``on_failure_callback`` in the task
runner on the worker (``task_runner.finalize``), with the hub's settings and store at hand,
whereas DAG-level callbacks run in the DAG processor. So ``defaults.default_args`` puts this
callback on every task: the last task of a run anchors the run's last event. Only a head that
moved since the newest anchor makes a file. A failed anchor never fails the task (it is done
already): it is logged, and the hourly ``audit_anchor`` DAG writes the next one.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def anchor_audit_head(context: Any = None) -> None:
    """Anchor the head if it moved (imports are lazy: a DAG file stays quick to parse)."""
    from loanhub.runtime import tasks

    try:
        tasks.anchor_audit(only_if_moved=True)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("audit chain not anchored after this task: %s", reason)
