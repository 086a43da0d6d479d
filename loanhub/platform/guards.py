"""Once-only execution of effects in legacy systems, on top of the work-item ledger.

``LedgerGuard.once`` is what connectors call around anything that costs or changes something
(a bureau inquiry, a payment): it claims the work item, runs the effect only when this caller
holds the claim, records the outcome, and otherwise hands back what the first caller got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kernel.failures import (
    BusinessAnswer,
    ContractError,
    FailureKind,
    LegacyError,
    NeedsHuman,
    OutcomeUnknown,
    TransientError,
)
from loanhub.platform.ledger import WorkItemBusy, WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.hub import WorkItem, WorkItemState
from schemas.types import utcnow

_REFUSED = {FailureKind.BUSINESS: BusinessAnswer, FailureKind.CONTRACT: ContractError}


class LedgerGuard:
    def __init__(
        self, ledger: WorkItemLedger, *, wait_seconds: float = 60.0, poll_seconds: float = 0.2
    ) -> None:
        self.ledger = ledger
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds

    def once(
        self,
        kind: str,
        key: str,
        payload: dict[str, Any],
        action: Callable[[], dict[str, Any]],
        *,
        max_age: timedelta | None = None,
    ) -> dict[str, Any]:
        """Run ``action`` at most once for ``(kind, key)`` (again only when the earlier result
        is older than ``max_age``, as a renewal guarded in its turn) and return its result, or
        the earlier one."""
        return self.once_with(kind, key, payload, lambda _claimed: action(), max_age=max_age)

    def once_with(
        self,
        kind: str,
        key: str,
        payload: dict[str, Any],
        action: Callable[[WorkItem], dict[str, Any]],
        *,
        max_age: timedelta | None = None,
    ) -> dict[str, Any]:
        """``once``, with the action given the item it runs under (the renewal, if one was
        claimed): an effect whose request must be recomputable after a crash derives its
        reference from the item's id, creation time and attempt."""
        current = key
        while True:
            item = self._claim(kind, current, payload)
            if item.state is WorkItemState.DONE:
                result = item.result or {}
                if max_age is None or not _older_than(result, max_age):
                    return result
                current = f"{key}#after:{result['fetched_at']}"  # a renewal, itself guarded
                continue
            if item.state is WorkItemState.IN_PROGRESS and item.owner == self.ledger.owner:
                return self._run(item, action)
            if item.state is WorkItemState.FAILED and item.failure_kind in _REFUSED:
                raise _REFUSED[item.failure_kind](
                    mask_text(f"{kind} {key} failed before: {item.error}")
                )
            raise NeedsHuman(
                mask_text(f"{kind} {key} is {item.state}: {item.error or 'waiting'}"),
                result=item.result,
            )

    def _claim(self, kind: str, key: str, payload: dict[str, Any]) -> WorkItem:
        """Claim; while another worker holds the item, wait for its outcome (bounded)."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                return self.ledger.claim(kind, key, payload)
            except WorkItemBusy as exc:
                if time.monotonic() > deadline:
                    raise TransientError(
                        mask_text(f"{kind} {key} still in progress elsewhere")
                    ) from exc
                time.sleep(self.poll_seconds)

    def _run(self, item: WorkItem, action: Callable[[WorkItem], dict[str, Any]]) -> dict[str, Any]:
        try:
            result = action(item)
        except OutcomeUnknown as exc:
            self.ledger.mark_in_doubt(item, str(exc), evidence=_filed(exc))
            raise
        except NeedsHuman as exc:
            self.ledger.needs_human(item, str(exc), result=exc.result, evidence=_filed(exc))
            raise
        except LegacyError as exc:
            self.ledger.fail(item, exc.kind or FailureKind.TRANSIENT, str(exc), _filed(exc))
            raise
        except Exception as exc:  # a bug: the effect may or may not have happened
            self.ledger.mark_in_doubt(item, f"{type(exc).__name__}: {exc}")
            raise
        self.ledger.complete(item, result)
        return result


def _filed(exc: LegacyError) -> str | None:
    """Where the hub filed a failure's evidence: the exception's own attribute, set by the
    hub's code (a bot's capture folder), kept in the item's ``evidence`` column. Never put in
    the error text, which carries a legacy system's words and must not name files."""
    return str(exc.evidence) if exc.evidence else None


def _older_than(result: dict[str, Any], age: timedelta) -> bool:
    fetched = result.get("fetched_at")
    return fetched is not None and utcnow() - datetime.fromisoformat(fetched) > age
