"""The waits for the gateway's pain.002 reports and the core's nightly extract, deferred.

Both were reschedule-mode sensors: every poke took a worker slot, built the hub and asked the
SFTP exchange. Now a worker does the work once (settle what the reports say, load the extract
if it is there) and, while something is still awaited, the task defers to
``SftpFileTrigger``: the triggerer polls the folder with an async client and wakes the task
only when a new file (with its ``.ok`` where the counterpart writes one) is there. No worker
slot is held while nothing happens.

The whole wait is bounded as the sensors' ``timeout`` bounded it: the deadline set at the first
look travels with each deferral (``kwargs``), and each deferral's timeout is what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSensorTimeout

from loanhub_provider.triggers.sftp import DEFAULT_CONN_ID, SftpFileTrigger


class _DeferringWait(BaseOperator):
    """Look, and defer on ``SftpFileTrigger`` until the next look can find something new."""

    def __init__(
        self,
        *,
        wait: timedelta,
        conn_id: str = DEFAULT_CONN_ID,
        poke_seconds: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait = wait
        self.conn_id = conn_id
        self.poke_seconds = poke_seconds

    def execute(self, context: Context) -> Any:
        return self._look_or_defer(datetime.now(UTC) + self.wait)

    def resume(
        self, context: Context, event: dict[str, Any] | None = None, deadline: str | None = None
    ) -> Any:
        """Woken by the trigger (or its timeout): look again, on the deadline of the first
        look (a resume that lost it, as ``dag.test()`` drops the kwargs, starts a fresh one)."""
        when = datetime.fromisoformat(deadline) if deadline else datetime.now(UTC) + self.wait
        return self._look_or_defer(when)

    def look(self) -> tuple[bool, Any, dict[str, Any]]:
        """(done, what to return, the trigger's arguments while not done)."""
        raise NotImplementedError

    def _look_or_defer(self, deadline: datetime) -> Any:
        from loanhub.runtime import tasks

        done, value, awaited = self.look()
        if done:
            return value
        left = deadline - datetime.now(UTC)
        if left <= timedelta(0):
            raise AirflowSensorTimeout(f"{self.task_id}: still waiting after {self.wait}: {value}")
        tasks.before_deferring()
        self.defer(
            trigger=SftpFileTrigger(
                conn_id=self.conn_id, poke_seconds=self.poke_seconds, **awaited
            ),
            method_name="resume",
            kwargs={"deadline": deadline.isoformat()},
            timeout=left,
        )


class SettlePaymentsOperator(_DeferringWait):
    """Applies the gateway's reports until nothing is in flight; between looks, waits in the
    triggerer for a new report of a file in flight. A payment whose upload's outcome is still
    unknown is looked at again every ``recheck_seconds`` (its answer may be a file moved into
    ``.processed``, not a report)."""

    def __init__(self, *, recheck_seconds: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recheck_seconds = recheck_seconds

    def look(self) -> tuple[bool, Any, dict[str, Any]]:
        from loanhub.runtime import tasks

        listed = tasks.payment_reports_listed()  # before settling: nothing slips between
        state = tasks.settle_payments()
        unknown = bool(state["in_doubt"].get("still_unknown"))
        if state["waiting"] == 0 and not unknown:
            return True, state, {}
        awaited = tasks.payment_reports_awaited(listed)
        if unknown or not awaited.pop("in_flight"):  # nothing a report would settle
            awaited["recheck_seconds"] = self.recheck_seconds
        return False, state, awaited


class ExtractLoadOperator(_DeferringWait):
    """Loads the night's extract once it is there; until then waits in the triggerer for its
    name to appear in the core's folder. ``business_date`` is called in the task (the run's
    params and logical date decide it)."""

    def __init__(self, *, business_date: Callable[[], date], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.business_date = business_date

    def look(self) -> tuple[bool, Any, dict[str, Any]]:
        from loanhub.runtime import tasks

        day = self.business_date()
        loaded = tasks.fetch_and_ingest_extract(day)
        if loaded is not None:
            return True, loaded, {}
        return False, f"no extract of {day}", tasks.extract_awaited(day)
