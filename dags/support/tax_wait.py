"""The wait for the tax authority's answer, deferred to the triggerer.

The authority answers in seconds to minutes, sometimes longer. A sensor holding a worker slot
(or rescheduling through the scheduler every few seconds) for that long wastes the slots the
other sources need, so the task defers: the triggerer asks the SFTP outbox, with an async
client and nothing of the hub (``loanhub_provider.triggers.sftp.SftpFileTrigger``), whether the
answer's ``.ok`` has arrived, and only then does a worker take the answer and store it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context

from loanhub_provider.triggers.sftp import DEFAULT_CONN_ID, POKE_SECONDS, SftpFileTrigger


class TaxAnswerOperator(BaseOperator):
    """Takes the answer to one batch's tax request, deferring until it has arrived; the wait
    is bounded by the ``tax_wait_seconds`` setting, read when the task runs."""

    template_fields: Sequence[str] = ("request",)

    def __init__(
        self,
        *,
        request: dict[str, Any],
        conn_id: str = DEFAULT_CONN_ID,
        poke_seconds: float = POKE_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.request = request
        self.conn_id = conn_id
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
        from connectors.tax import ANSWERS
        from contracts.tax_files import answer_name
        from loanhub.runtime import tasks

        batch, suffix = list(self.request["batch"]), str(self.request.get("suffix", ""))
        purpose = str(self.request.get("purpose", "harvest" if not suffix else "post_loan"))
        name = str(self.request["request"])
        if tasks.collect_tax(name, batch, suffix):
            return name
        name = tasks.tax_request_in_force(name, batch, suffix, purpose)
        if name != self.request["request"] and tasks.collect_tax(name, batch, suffix):
            return name
        answer = answer_name(name)
        files = event.get("files", {})  # what woke the last wait: past that delivery
        seen = {answer: files[answer]} if answer in files else {}
        tasks.before_deferring()
        self.defer(
            trigger=SftpFileTrigger(
                ANSWERS,
                re.escape(answer),
                conn_id=self.conn_id,
                seen=seen,
                poke_seconds=self.poke_seconds,
            ),
            method_name="collect",
            timeout=timedelta(seconds=tasks.tax_wait_seconds()),
        )
