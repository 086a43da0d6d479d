"""Retry of transient failures: bounded, exponential, with full jitter (no thundering herd).

Shared with the bots, so it lives with the failure vocabulary in ``schemas.failures``.
"""

from __future__ import annotations

from schemas.failures import RetryPolicy, with_retry

__all__ = ["RetryPolicy", "with_retry"]
