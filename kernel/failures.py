"""How every connector and bot reports failure: three kinds, named in the exception type
(architecture.md, "Errors"), plus the outcome nobody knows and the case only a person can settle.

It lives at the bottom of the layers because connectors (SOAP, SFTP) and bots (screens) speak it
alike, and the work-item guard above them turns each kind into a ledger state.

- ``TransientError``: busy, timeout before send, refused or dropped connection: retry later.
- ``BusinessAnswer``: the system answered and the answer is "no" (subject unknown, account
  closed): record it, never retry.
- ``ContractError``: bad input or a broken contract (checksum, XSD, trailer, unknown host key,
  authentication): refuse, quarantine, alert; nothing partial is kept.
- ``OutcomeUnknown``: the request may have reached the system (timeout after send): the work
  item goes IN_DOUBT and is settled by reading the system's state, never by resending blindly.
- ``NeedsHuman``: a captcha, a locked account, a screen nobody taught the bot, a decision
  waiting for a second approver: the item waits for a person; nothing is guessed or retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
log = logging.getLogger(__name__)

Masker = Callable[[str], str]
"""Masks personal data in text; the hub injects its rules (``loanhub.platform.masking``)."""


class FailureKind(StrEnum):
    """The three kinds every connector and bot sorts its failures into (architecture.md)."""

    TRANSIENT = "transient"
    BUSINESS = "business"
    CONTRACT = "contract"


class LegacyError(Exception):
    """A failure talking to a legacy system; ``kind`` says what the hub does about it."""

    kind: FailureKind | None = None

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        code: str | None = None,
        evidence: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.system = system
        self.code = code
        self.evidence = evidence


class TransientError(LegacyError):
    kind = FailureKind.TRANSIENT


class BusinessAnswer(LegacyError):
    kind = FailureKind.BUSINESS


class ContractError(LegacyError):
    kind = FailureKind.CONTRACT


class OutcomeUnknown(LegacyError):
    """Sent, and then nothing: the effect may or may not have happened."""


class NeedsHuman(LegacyError):
    """Only a person can go on (or the item's outcome is in doubt): no automatic action.

    ``result`` carries what the system did answer, when it answered (the approval reference of
    a decision now waiting for a second approver), so that it is kept with the work item.
    """

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        code: str | None = None,
        evidence: Path | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, system=system, code=code, evidence=evidence)
        self.result = result


class RetryPolicy(BaseModel):
    """Bounded exponential backoff with full jitter, for transient failures only."""

    attempts: int = Field(default=4, ge=1)
    base_seconds: float = Field(default=0.5, ge=0)
    cap_seconds: float = Field(default=8.0, ge=0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): full jitter, so that
        workers retrying together do not hit a loaded legacy system in step."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


_attempt: ContextVar[int | None] = ContextVar("loanhub_attempt", default=None)


def current_attempt() -> int | None:
    """The attempt of the innermost ``with_retry`` running now (1-based), None outside one:
    what the call journal stamps on each call, so a case file can tell a retry from a first
    try."""
    return _attempt.get()


def with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
    mask: Masker | None = None,
) -> T:
    """Run ``fn``; on ``TransientError`` wait and try again, at most ``policy.attempts`` times.

    Everything else (business answers, contract errors, unknown outcomes) propagates at once.
    ``mask`` masks the failure in the retry's warning: a peer's fault text can carry an ID
    number or a mobile, and the process may have no masking of its own installed.
    """
    for attempt in range(1, policy.attempts + 1):
        token = _attempt.set(attempt)
        try:
            return fn()
        except TransientError as exc:
            if attempt == policy.attempts:
                raise
            delay = policy.delay(attempt)
            log.warning(
                "%s: transient failure (%s), attempt %d/%d, retrying in %.2fs",
                what,
                mask(str(exc)) if mask else exc,
                attempt,
                policy.attempts,
                delay,
            )
            sleep(delay)
        finally:
            _attempt.reset(token)
    raise AssertionError("unreachable")
