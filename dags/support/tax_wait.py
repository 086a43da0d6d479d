"""The wait for the tax authority's answer, deferred to the triggerer.

The authority answers in seconds to minutes, sometimes longer. A sensor holding a worker slot
(or rescheduling through the scheduler every few seconds) for that long wastes the slots the
other sources need, so the task defers: the triggerer asks the SFTP outbox whether the
answer's ``.ok`` has arrived, and only then does a worker take the answer and store it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.triggers.base import BaseTrigger, TriggerEvent

from kernel.failures import TransientError

POKE_SECONDS = 5.0
log = logging.getLogger(__name__)


def _answered(request: str, seen: str) -> str | None:
    from loanhub.runtime import tasks  # imported off the triggerer's loop: it takes a second

    return tasks.tax_answered(request, seen)


class TaxAnswerTrigger(BaseTrigger):
    """Fires once an answer to ``request`` carries its ``.ok`` trigger file and is not the
    delivery already ``seen`` (an answer the hub refused is waited past until it is delivered
    again). A dropped connection while asking is waited out; anything else fails the task with
    its cause."""

    def __init__(self, request: str, seen: str = "", poke_seconds: float = POKE_SECONDS) -> None:
        super().__init__()
        self.request = request
        self.seen = seen
        self.poke_seconds = poke_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"request": self.request, "seen": self.seen, "poke_seconds": self.poke_seconds},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                # the connector is the synchronous hook with the pinned host key: one short
                # stat in a thread keeps the triggerer's loop free for the other waits
                version = await asyncio.to_thread(_answered, self.request, self.seen)
                if version is not None:
                    log.info("tax answer to %s is there (%s)", self.request, version)
                    yield TriggerEvent({"request": self.request, "version": version})
                    return
            except TransientError as exc:
                log.warning("tax outbox not reachable, asking again: %s", exc)
            await asyncio.sleep(self.poke_seconds)


class TaxAnswerOperator(BaseOperator):
    """Takes the answer to one batch's tax request, deferring until it has arrived; the wait
    is bounded by the ``tax_wait_seconds`` setting, read when the task runs."""

    template_fields: Sequence[str] = ("request",)

    def __init__(
        self, *, request: dict[str, Any], poke_seconds: float = POKE_SECONDS, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.request = request
        self.poke_seconds = poke_seconds

    def execute(self, context: Context) -> str:
        return self._collect_or_defer({})

    def collect(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resumed by the trigger. Should the answer it saw be one the hub refused before,
        that delivery is the one not to wake up for again."""
        return self._collect_or_defer(event or {})

    def _collect_or_defer(self, event: dict[str, Any]) -> str:
        """Take the answer if it is there; else wait for it, on the request in force: the
        one submitted, or the one that asked again once its answer could no longer come (the
        authority deletes answers after 7 days; a task resumed or retried after that would
        wait forever)."""
        from loanhub.runtime import tasks

        batch, suffix = list(self.request["batch"]), str(self.request.get("suffix", ""))
        purpose = str(self.request.get("purpose", "harvest" if not suffix else "post_loan"))
        name = str(self.request["request"])
        if tasks.collect_tax(name, batch, suffix):
            return name
        name = tasks.tax_request_in_force(name, batch, suffix, purpose)
        if name != self.request["request"] and tasks.collect_tax(name, batch, suffix):
            return name
        seen = str(event.get("version", "")) if event.get("request", name) == name else ""
        self.defer(
            trigger=TaxAnswerTrigger(name, seen, self.poke_seconds),
            method_name="collect",
            timeout=timedelta(seconds=tasks.tax_wait_seconds()),
        )
