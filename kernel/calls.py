"""One call to a legacy system, as the monitoring dashboard and ``/metrics`` count it.

Connectors and bots time every call they make and hand it to an injected ``CallObserver``
(the hub stores it, ``loanhub.platform.calls``); they never know where it goes. The outcome is the
failure kind the call raised, so "success rate" means the same thing on every source.

What a call was made for is the caller's knowledge, not the connector's: a flow working on one
application wraps its calls in ``call_subject(application_no)``, and every call observed inside
carries it (and the attempt of the retry loop it ran in), so one application's case file can
list the calls made for it without any connector knowing what an application is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kernel.failures import LegacyError, NeedsHuman, OutcomeUnknown, current_attempt

log = logging.getLogger(__name__)


class CallOutcome(StrEnum):
    OK = "ok"
    BUSINESS = "business"  # the system answered "no": a successful call
    TRANSIENT = "transient"
    CONTRACT = "contract"
    IN_DOUBT = "in_doubt"  # sent, no answer
    NEEDS_HUMAN = "needs_human"
    ERROR = "error"  # anything the connector did not sort (a bug on our side)


SUCCESSFUL = frozenset({CallOutcome.OK, CallOutcome.BUSINESS})
"""Outcomes in which the system did its job: a "not found" is an answer, not a failure."""


class SourceCall(BaseModel):
    """The record of one call; the store's ``source_call`` table is derived from it."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    system: str = Field(max_length=32)
    operation: str = Field(max_length=64)
    started_at: AwareDatetime
    duration_ms: int = Field(ge=0)
    outcome: CallOutcome
    error: str | None = Field(default=None, max_length=500)
    subject: str | None = Field(
        default=None, max_length=32, description="the application the call was made for"
    )
    attempt: int | None = Field(
        default=None, ge=1, description="its attempt in the connector's retry loop (1 first)"
    )


class CallObserver(Protocol):
    def __call__(self, call: SourceCall) -> None:
        """Take one finished call; must not raise (a lost sample must not fail a payment)."""


_subject: ContextVar[str | None] = ContextVar("loanhub_call_subject", default=None)


@contextmanager
def call_subject(subject: str | None) -> Iterator[None]:
    """Every call observed inside the block is stamped as made for ``subject`` (an application
    number): threads started inside do not inherit it, so a flow sets it where it calls."""
    token = _subject.set(subject)
    try:
        yield
    finally:
        _subject.reset(token)


def ignore_call(call: SourceCall) -> None:
    """The observer of a connector nobody watches (tests, one-off CLI commands)."""


def outcome_of(exc: BaseException | None) -> CallOutcome:
    if exc is None:
        return CallOutcome.OK
    if isinstance(exc, OutcomeUnknown):
        return CallOutcome.IN_DOUBT
    if isinstance(exc, NeedsHuman):
        return CallOutcome.NEEDS_HUMAN
    if isinstance(exc, LegacyError) and exc.kind is not None:
        return CallOutcome(exc.kind.value)
    return CallOutcome.ERROR


@contextmanager
def observed(observer: CallObserver, system: str, operation: str) -> Iterator[None]:
    """Time the block and report it with the failure kind it raised (re-raised unchanged)."""
    started, clock = datetime.now(UTC), time.perf_counter()
    failure: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        failure = exc
        raise
    finally:
        call = SourceCall(
            system=system,
            operation=operation,
            started_at=started,
            duration_ms=round((time.perf_counter() - clock) * 1000),
            outcome=outcome_of(failure),
            error=None if failure is None else f"{type(failure).__name__}: {failure}"[:500],
            subject=_subject.get(),
            attempt=current_attempt(),
        )
        try:
            observer(call)
        except Exception:  # an observer that fails loses a sample, never the call
            log.warning("call observer failed for %s.%s", system, operation, exc_info=True)
