"""A notifier (Airflow's ``BaseNotifier``) that mails operations over the hub's own relay.

Two uses, one class:

- **a failed task** (``on_failure_callback``, wired on every loanhub task by
  ``dags.support.defaults``): run synchronously in the task's process after its last try, with
  the task's context: which DAG, run, task and try, the error, and the link to its log;
- **a missed deadline** (``DeadlineAlert`` on the nightly sync and the day's disbursements,
  ``dags.support.deadlines``): run by the triggerer as an ``AsyncCallback``, which builds the
  notifier with its kwargs and the run's context and awaits it.

The mail goes over the ``loanhub_smtp`` connection (``SmtpHook``) through the hub's SMTP
connector, so it is sent the way every hub mail is; subject and body are masked with
``loanhub.platform.masking`` first (an error message may quote an ID number or a mobile). Its
Message-ID is derived from what it reports, so a notice sent twice is recognisably the same
mail. A notice that cannot be sent is logged and never raised: a failed notification must not
change the outcome of the task or the run it reports on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

KIND = "airflow_notice"  # the Message-ID's kind (connectors.smtp.message_id_for)


class LoanhubMailNotifier(BaseNotifier):
    """Mail a masked notice of a failed task or a missed deadline to ``to`` (default: the
    setting ``LOANHUB_ALERTS__RECIPIENTS``), over ``smtp_conn_id``."""

    def __init__(
        self,
        *,
        to: list[str] | str | None = None,
        smtp_conn_id: str = "loanhub_smtp",
        what: str | None = None,
        context: Any = None,
    ) -> None:
        super().__init__(context=context)
        self.to = [to] if isinstance(to, str) else list(to or [])
        self.smtp_conn_id = smtp_conn_id
        self.what = what  # a deadline's name for people: "the nightly sync must be loaded"

    # -- the two entry points ---------------------------------------------------------------

    def notify(self, context: Any) -> None:
        """A failed task (synchronous: the task's process, with its SMTP connection)."""
        subject, body, key = failure_notice(context)
        try:
            from loanhub_provider.hooks.smtp import SmtpHook

            self._send(SmtpHook(self.smtp_conn_id).get_config(), subject, body, key)
        except Exception:  # a notice never fails the task it reports on
            log.exception("could not mail the failure notice %r", subject)

    async def async_notify(self, context: Any) -> None:
        """A missed deadline (the triggerer: the connection read without blocking its loop)."""
        subject, body, key = deadline_notice(context, self.what)
        try:
            from airflow.sdk import BaseHook

            conn = await BaseHook.aget_connection(self.smtp_conn_id)
            config = smtp_config(conn.host, conn.port, conn.extra_dejson)
            await asyncio.to_thread(self._send, config, subject, body, key)
        except Exception:  # the triggerer goes on with the other callbacks
            log.exception("could not mail the deadline notice %r", subject)

    # -- sending ----------------------------------------------------------------------------

    def recipients(self) -> list[str]:
        if self.to:
            return self.to
        from loanhub.runtime.settings import HubSettings

        return HubSettings().alerts.recipients

    def _send(self, config: Any, subject: str, body: str, key: str) -> str:
        from connectors.smtp import Notifier, message_id_for
        from loanhub.platform.masking import mask_text

        sent = Notifier(config, mask_text).send(
            self.recipients(),
            mask_text(subject),
            mask_text(body),
            message_id=message_id_for(KIND, key),
        )
        log.info("notice mailed: %s (%s)", mask_text(subject), sent)
        return sent


def smtp_config(host: str | None, port: int | None, extra: Mapping[str, Any]) -> Any:
    """The relay of an ``smtp`` connection as the hub's ``SmtpConfig`` (as ``SmtpHook``)."""
    from connectors.config import SmtpConfig

    if not host:
        raise ValueError("the SMTP connection has no host")
    sender = extra.get("from_email") or extra.get("extra__smtp__from_email")
    return SmtpConfig(host=host, port=int(port or 25), **({"sender": sender} if sender else {}))


def _get(thing: Any, name: str, default: Any = None) -> Any:
    """An attribute of a runtime object, or a key of its JSON form (the triggerer's context)."""
    if isinstance(thing, Mapping):
        return thing.get(name, default)
    return getattr(thing, name, default)


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "" if value is None else str(value)


def failure_notice(context: Any) -> tuple[str, str, str]:
    """Subject, body and identity of a failed task's notice (masked when sent)."""
    ti = context.get("ti")
    dag_id = _get(ti, "dag_id") or _get(context.get("dag"), "dag_id", "?")
    run_id = _get(ti, "run_id") or _get(context.get("dag_run"), "run_id", "?")
    task_id = _get(ti, "task_id", "?")
    map_index = _get(ti, "map_index", -1)
    try_number = _get(ti, "try_number", 0)
    error = context.get("exception")
    shown_task = task_id if map_index in (None, -1) else f"{task_id}[{map_index}]"
    subject = f"[loanhub] {dag_id}: task {shown_task} failed"
    lines = [
        f"DAG:      {dag_id}",
        f"Run:      {run_id}",
        f"Task:     {shown_task} (try {try_number})",
        f"Error:    {type(error).__name__ + ': ' if isinstance(error, BaseException) else ''}"
        f"{error if error is not None else 'unknown'}",
    ]
    url = _get(ti, "log_url")
    if url:
        lines.append(f"Log:      {url}")
    lines += ["", "No retry is left: the task stays failed until someone clears it."]
    return subject, "\n".join(lines), f"{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}"


def deadline_notice(context: Any, what: str | None) -> tuple[str, str, str]:
    """Subject, body and identity of a missed deadline's notice."""
    run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    dag_id = _get(run, "dag_id", "?")
    run_id = _get(run, "dag_run_id") or _get(run, "run_id", "?")
    subject = f"[loanhub] {dag_id}: run not finished by its deadline"
    lines = [
        f"DAG:      {dag_id}",
        f"Run:      {run_id}",
        f"State:    {_get(run, 'state', '?')}",
        f"Queued:   {_when(_get(run, 'queued_at'))}",
        f"Deadline: {_when(_get(deadline, 'deadline_time'))}",
    ]
    if what:
        lines += ["", what]
    lines += ["", "The run is still going (or waiting): see it in Airflow, and its source."]
    return subject, "\n".join(lines), f"deadline/{dag_id}/{run_id}/{_get(deadline, 'id', '')}"
