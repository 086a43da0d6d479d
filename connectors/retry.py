"""Retry of transient failures: bounded, exponential, with full jitter (no thundering herd)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from connectors.config import RetryPolicy
from connectors.errors import TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)


def with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn``; on ``TransientError`` wait and try again, at most ``policy.attempts`` times.

    Everything else (business answers, contract errors, unknown outcomes) propagates at once.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except TransientError as exc:
            if attempt == policy.attempts:
                raise
            ceiling = min(policy.cap_seconds, policy.base_seconds * 2 ** (attempt - 1))
            delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
            log.warning(
                "%s: transient failure (%s), attempt %d/%d, retrying in %.2fs",
                what,
                exc,
                attempt,
                policy.attempts,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")
