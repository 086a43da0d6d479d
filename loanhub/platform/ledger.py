"""The work-item ledger: what makes an effect in a legacy system happen once.

Airflow runs a task at least once; a bureau query, an LOS approval or a payment must happen
exactly once. Every such call is claimed here under a business key before it is made and
closed after, in the database, so a retry, a second worker or a re-run finds the item and
does not act blindly (architecture.md, "Work items").

State machine::

    NEW -> IN_PROGRESS -> DONE | FAILED(transient | business | contract) | NEEDS_HUMAN | IN_DOUBT
    NEEDS_HUMAN <-> CLOSED  (an operator's note: settled outside the hub / reopened)

- a DONE item is handed back with its result and is not run again;
- an item IN_PROGRESS under another owner is refused (``WorkItemBusy``) until its lease runs
  out; then nobody knows whether the effect happened, so it turns IN_DOUBT, never NEW;
- IN_DOUBT is resolved by reading the legacy system's state (``resolve_in_doubt``);
- FAILED(transient) may be claimed again; business and contract failures may not;
- CLOSED is an operator's word that a person settled the item outside the hub: terminal like
  DONE for a claim (handed back, never run), but not DONE (the hub did not do it and holds no
  result of its own), so nothing downstream takes it for the hub's effect. Only a
  NEEDS_HUMAN item is closed, and only a CLOSED one reopened (back to NEEDS_HUMAN).

Every transition writes an audit event in the same transaction.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, Row, select, update

from kernel.failures import FailureKind
from loanhub.platform import audit
from loanhub.platform.canonical import jsonable, sha256_hex
from loanhub.platform.db import insert_or_ignore, retrying
from loanhub.platform.masking import mask_text
from schemas.hub import WorkItem, WorkItemState
from schemas.tables import work_item
from schemas.types import utcnow

__all__ = [
    "ConflictingWorkItem",
    "IllegalTransition",
    "WorkItemBusy",
    "WorkItemError",
    "WorkItemLedger",
    "default_owner",
]


class WorkItemError(Exception):
    """Base of the ledger's refusals."""


class ConflictingWorkItem(WorkItemError):
    """The business key exists with a different payload: two different effects share one key."""


class WorkItemBusy(WorkItemError):
    """Another owner is working on the item now; try again after its lease or leave it."""


class IllegalTransition(WorkItemError):
    """The requested state change is not allowed from the item's state or by this owner."""


def default_owner() -> str:
    """Host, process and a per-ledger token: two ledgers never share ownership, even as
    threads of one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_TERMINAL_FOR_CLAIM = {
    WorkItemState.DONE,
    WorkItemState.NEEDS_HUMAN,
    WorkItemState.IN_DOUBT,
    WorkItemState.CLOSED,
}

Also = Callable[[Connection], None] | None
"""A caller's own record (its audit event with the operator's note), written in the same
transaction as the transition it goes with."""


class LedgerSettings(BaseModel):
    """How long a claim holds (``LOANHUB_LEDGER__LEASE_SECONDS``)."""

    lease_seconds: int = Field(
        default=900,
        ge=1,
        description="an IN_PROGRESS item older than this is presumed abandoned and put IN_DOUBT",
    )


class WorkItemLedger:
    """Claims and closes work items in the hub's store."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=15),
        actor: str = "loanhub",
    ) -> None:
        self.engine = engine
        self.owner = owner or default_owner()
        self.lease = lease
        self.actor = actor

    # -- reading -----------------------------------------------------------------------------

    def get(self, kind: str, business_key: str) -> WorkItem | None:
        row = retrying(
            self.engine,
            lambda conn: conn.execute(
                select(work_item).where(
                    work_item.c.kind == kind, work_item.c.business_key == business_key
                )
            ).first(),
            what=f"read {kind}:{business_key}",
        )
        return _item(row) if row else None

    def get_by_id(self, item_id: int) -> WorkItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(work_item).where(work_item.c.id == item_id)).first()
        return _item(row) if row else None

    def items(self, state: WorkItemState | None = None, kind: str | None = None) -> list[WorkItem]:
        query = select(work_item).order_by(work_item.c.id)
        if state is not None:
            query = query.where(work_item.c.state == state.value)
        if kind is not None:
            query = query.where(work_item.c.kind == kind)
        with self.engine.connect() as conn:
            return [_item(r) for r in conn.execute(query)]

    # -- claiming ----------------------------------------------------------------------------

    def claim(self, kind: str, business_key: str, payload: Mapping[str, Any]) -> WorkItem:
        """Take the item for ``(kind, business_key)``, creating it on first sight.

        Returns the item: IN_PROGRESS and owned by this ledger's owner when the caller must
        now do the work; DONE (with ``result``), NEEDS_HUMAN, IN_DOUBT or a non-transient
        FAILED when it must not. Raises ``ConflictingWorkItem`` when the key was first claimed
        with another payload, ``WorkItemBusy`` when another owner holds a live lease.
        """
        body = jsonable(dict(payload))
        digest = sha256_hex(body)
        now = utcnow()  # once per call: a repeat after a lost COMMIT reply knows its own lease
        tries = 0

        def attempt(conn: Connection) -> WorkItem:
            nonlocal tries
            tries += 1
            return self._claim(conn, kind, business_key, body, digest, now, repeat=tries > 1)

        return retrying(self.engine, attempt, what=f"claim {kind}:{business_key}")

    def _claim(
        self,
        conn: Connection,
        kind: str,
        business_key: str,
        body: dict[str, Any],
        digest: str,
        now: datetime,
        *,
        repeat: bool,
    ) -> WorkItem:
        """One try of ``claim``'s transaction. ``repeat``: an earlier try of this same call lost
        its connection, perhaps after its COMMIT went through; an item IN_PROGRESS under this
        owner with exactly this call's lease is that claim, handed back rather than refused."""
        created = conn.execute(
            insert_or_ignore(conn, work_item, ["kind", "business_key"])
            .values(
                kind=kind,
                business_key=business_key,
                payload=body,
                payload_hash=digest,
                state=WorkItemState.IN_PROGRESS.value,
                owner=self.owner,
                attempts=1,
                lease_expires_at=now + self.lease,
                created_at=now,
                updated_at=now,
            )
            .returning(*work_item.c)
        ).first()
        if created is not None:
            item = _item(created)
            self._audit(conn, "work_item.claimed", item, None, item)
            return item

        row = conn.execute(
            select(work_item)
            .where(work_item.c.kind == kind, work_item.c.business_key == business_key)
            .with_for_update()
        ).one()
        item = _item(row)
        if item.payload_hash != digest:
            raise ConflictingWorkItem(
                f"{kind} {business_key!r} was claimed with payload {item.payload_hash[:12]}, "
                f"now asked with {digest[:12]}: one business key, two different effects"
            )
        if item.state in _TERMINAL_FOR_CLAIM:
            return item
        if item.state is WorkItemState.FAILED:
            if item.failure_kind is not FailureKind.TRANSIENT:
                return item
            return self._transition(
                conn,
                item,
                "work_item.reclaimed",
                state=WorkItemState.IN_PROGRESS,
                owner=self.owner,
                attempts=item.attempts + 1,
                failure_kind=None,
                error=None,
                evidence=None,
                lease_expires_at=now + self.lease,
            )
        if (
            repeat
            and item.state is WorkItemState.IN_PROGRESS
            and item.owner == self.owner
            and item.lease_expires_at == now + self.lease
        ):
            return item  # this call's own claim, committed before its connection dropped
        # IN_PROGRESS (or NEW, which only a crashed writer could leave behind). Refused even
        # to its own owner: a second call of the same worker (another thread) must not run
        # the effect a second time; the caller that claimed it closes it.
        if item.lease_expires_at is not None and item.lease_expires_at > now:
            raise WorkItemBusy(
                f"{kind} {business_key!r} is in progress under {item.owner} until "
                f"{item.lease_expires_at.isoformat()}"
            )
        return self._transition(
            conn,
            item,
            "work_item.in_doubt",
            state=WorkItemState.IN_DOUBT,
            error=f"lease of {item.owner} expired with the outcome unknown",
        )

    # -- closing -----------------------------------------------------------------------------

    def complete(self, item: WorkItem, result: Mapping[str, Any] | None = None) -> WorkItem:
        """The effect happened: record its result (ids, references; never a whole payload)."""
        return self._close(
            item, "work_item.done", state=WorkItemState.DONE, result=jsonable(dict(result or {}))
        )

    def fail(
        self, item: WorkItem, kind: FailureKind, error: str, evidence: str | None = None
    ) -> WorkItem:
        """The effect did not happen; ``kind`` says whether a later claim may try again.
        ``evidence``: where the hub filed what it saw (its own column, never in ``error``)."""
        return self._close(
            item,
            "work_item.failed",
            state=WorkItemState.FAILED,
            failure_kind=kind,
            error=_text(error),
            evidence=_where(evidence),
        )

    def needs_human(
        self,
        item: WorkItem,
        reason: str,
        result: Mapping[str, Any] | None = None,
        evidence: str | None = None,
    ) -> WorkItem:
        """A person must look (a rule referred it, a screen changed): no automatic retry.
        ``result`` keeps what the system did answer (a reference waiting for a checker)."""
        changes: dict[str, Any] = {
            "state": WorkItemState.NEEDS_HUMAN,
            "error": _text(reason),
            "evidence": _where(evidence),
        }
        if result is not None:
            changes["result"] = dict(result)
        return self._close(item, "work_item.needs_human", **changes)

    def mark_in_doubt(self, item: WorkItem, reason: str, evidence: str | None = None) -> WorkItem:
        """The request may have reached the legacy system (timeout after send)."""
        return self._close(
            item,
            "work_item.in_doubt",
            state=WorkItemState.IN_DOUBT,
            error=_text(reason),
            evidence=_where(evidence),
        )

    def release(self, item: WorkItem, reason: str, also: Also = None) -> WorkItem:
        """An operator's decision, with a note: what stopped the item was fixed (a wrong
        password, a person answered in the legacy system), so it may be claimed again. From
        FAILED or NEEDS_HUMAN only (an IN_DOUBT item is settled by reading, never released
        blindly); audited."""
        with self.engine.begin() as conn:
            current = self._locked(conn, item)
            if current.state not in (WorkItemState.FAILED, WorkItemState.NEEDS_HUMAN):
                raise IllegalTransition(
                    f"{_ref(current)} is {current.state}: only FAILED or NEEDS_HUMAN is released"
                )
            released = self._transition(
                conn,
                current,
                "work_item.released_for_retry",
                state=WorkItemState.FAILED,
                failure_kind=FailureKind.TRANSIENT,
                error=_text(f"released by {self.actor}: {reason}"),
            )
            if also is not None:
                also(conn)
            return released

    def resolve_in_doubt(
        self,
        item: WorkItem,
        *,
        happened: bool,
        result: Mapping[str, Any] | None = None,
        evidence: str,
        also: Also = None,
    ) -> WorkItem:
        """Settle an IN_DOUBT item from what the legacy system says it has.

        ``happened`` -> DONE with the result read back; otherwise FAILED(transient), so the
        next claim sends it once more. ``evidence`` says what was read, for the audit chain.
        """
        if happened:
            action, changes = (
                "work_item.resolved_done",
                {
                    "state": WorkItemState.DONE,
                    "error": _text(evidence),
                    "result": jsonable(dict(result or {})),
                },
            )
        else:
            action, changes = (
                "work_item.resolved_not_done",
                {
                    "state": WorkItemState.FAILED,
                    "failure_kind": FailureKind.TRANSIENT,
                    "error": _text(evidence),
                },
            )
        return self._move(item, WorkItemState.IN_DOUBT, action, also, "not IN_DOUBT", **changes)

    def refer_in_doubt(self, item: WorkItem, reason: str, also: Also = None) -> WorkItem:
        """An IN_DOUBT item the legacy system's reading hands to a person (the LOS holds
        another decision than the hub's): NEEDS_HUMAN with what was read, in one step, so
        nothing can claim and send it in between. Audited; only from IN_DOUBT."""
        return self._move(
            item,
            WorkItemState.IN_DOUBT,
            "work_item.referred_by_reading",
            also,
            "not IN_DOUBT",
            state=WorkItemState.NEEDS_HUMAN,
            owner=None,
            error=_text(reason),
        )

    def close(self, item: WorkItem, note: str, also: Also = None) -> WorkItem:
        """An operator's word that a person settled a NEEDS_HUMAN item outside the hub (in
        the legacy system, by phone): CLOSED with the note, its result kept as it was. A claim
        hands a CLOSED item back and runs nothing, so closing never causes an effect; only
        ``reopen`` moves it again. Audited."""
        return self._move(
            item,
            WorkItemState.NEEDS_HUMAN,
            "work_item.closed",
            also,
            "only a NEEDS_HUMAN item is closed",
            state=WorkItemState.CLOSED,
            error=lambda current: _text(
                f"closed by {self.actor}: {note} (it waited for: {current.error})"
            ),
        )

    def reopen(self, item: WorkItem, note: str, also: Also = None) -> WorkItem:
        """A CLOSED item back to NEEDS_HUMAN (closed by mistake, or the outside settlement
        fell through), with the note as its reason: it waits for a person again and is never
        run by itself. Audited; only from CLOSED."""
        return self._move(
            item,
            WorkItemState.CLOSED,
            "work_item.reopened",
            also,
            "only a CLOSED item is reopened",
            state=WorkItemState.NEEDS_HUMAN,
            error=_text(f"reopened by {self.actor}: {note}"),
        )

    def _move(
        self,
        item: WorkItem,
        expected: WorkItemState,
        action: str,
        also: Also,
        refusal: str,
        **changes: Any,
    ) -> WorkItem:
        """One guarded transition under the item's row lock: refused (``refusal`` says why)
        unless the item's stored state, not the caller's copy, is ``expected``; audited as
        ``action``, with ``also`` in the same transaction. A callable ``error`` is given the
        locked item (a note that quotes what the item waited for)."""
        with self.engine.begin() as conn:
            current = self._locked(conn, item)
            if current.state is not expected:
                raise IllegalTransition(f"{_ref(current)} is {current.state}: {refusal}")
            if callable(changes.get("error")):
                changes["error"] = changes["error"](current)
            moved = self._transition(conn, current, action, **changes)
            if also is not None:
                also(conn)
            return moved

    def resolve_waiting(
        self,
        item: WorkItem,
        *,
        result: Mapping[str, Any] | None = None,
        evidence: str,
        also: Callable[[Connection], None] | None = None,
    ) -> WorkItem:
        """Close a NEEDS_HUMAN item whose person has acted in the legacy system (the LOS's
        checker confirmed, say), as read there, or in the hub (an operator named what was
        missing): DONE with what was read. Audited; only from NEEDS_HUMAN, so an item nobody
        read about is never closed by this. ``also`` writes the caller's own record (its audit
        event) in the same transaction."""
        with self.engine.begin() as conn:
            current = self._locked(conn, item)
            if current.state is not WorkItemState.NEEDS_HUMAN:
                raise IllegalTransition(f"{_ref(current)} is {current.state}, not NEEDS_HUMAN")
            done = self._transition(
                conn,
                current,
                "work_item.resolved_by_reading",
                state=WorkItemState.DONE,
                error=_text(evidence),
                result=jsonable({**(current.result or {}), **dict(result or {})}),
            )
            if also is not None:
                also(conn)
            return done

    # -- internals ---------------------------------------------------------------------------

    def _close(self, item: WorkItem, action: str, **changes: Any) -> WorkItem:
        """Move an item this owner holds out of IN_PROGRESS, in one compare-and-set UPDATE.

        Repeated when the connection drops (``retrying``): the values, their ``updated_at``
        included, are fixed once per call, so a repeat that finds the item already closed by
        this owner with exactly these values knows its first COMMIT went through."""
        values = _values(changes, lease_expires_at=None)
        tries = 0

        def attempt(conn: Connection) -> WorkItem:
            nonlocal tries
            tries += 1
            row = conn.execute(
                update(work_item)
                .where(
                    work_item.c.id == item.id,
                    work_item.c.state == WorkItemState.IN_PROGRESS.value,
                    work_item.c.owner == self.owner,
                )
                .values(**values)
                .returning(*work_item.c)
            ).first()
            if row is None:
                current = self._locked(conn, item)
                if (
                    tries > 1
                    and current.owner == self.owner
                    and current.state.value == values["state"]
                    and current.updated_at == values["updated_at"]
                ):
                    return current  # closed by this call before the connection dropped
                raise IllegalTransition(
                    f"{_ref(current)} is {current.state} under {current.owner}; "
                    f"{self.owner} cannot close it"
                )
            new = _item(row)
            self._audit(conn, action, new, item, new)
            return new

        return retrying(self.engine, attempt, what=f"close {_ref(item)}")

    def _locked(self, conn: Connection, item: WorkItem) -> WorkItem:
        row = conn.execute(
            select(work_item).where(work_item.c.id == item.id).with_for_update()
        ).one()
        return _item(row)

    def _transition(
        self, conn: Connection, item: WorkItem, action: str, **changes: Any
    ) -> WorkItem:
        row = conn.execute(
            update(work_item)
            .where(work_item.c.id == item.id)
            .values(**_values(changes))
            .returning(*work_item.c)
        ).one()
        new = _item(row)
        self._audit(conn, action, new, item, new)
        return new

    def _audit(
        self,
        conn: Connection,
        action: str,
        subject: WorkItem,
        before: WorkItem | None,
        after: WorkItem,
    ) -> None:
        def image(i: WorkItem | None) -> dict[str, Any] | None:
            return (
                None
                if i is None
                else {
                    "state": i.state,
                    "failure_kind": i.failure_kind,
                    "owner": i.owner,
                    "attempts": i.attempts,
                    "error": i.error,
                }
            )

        audit.append(
            conn,
            actor=self.actor,
            action=action,
            subject=_ref(subject),
            before=image(before),
            after=image(after),
        )


def _text(message: str) -> str:
    """Error texts are read by people on dashboards: masked, and bounded."""
    return mask_text(message)[:2000]


def _where(evidence: str | None) -> str | None:
    """An evidence path as the hub recorded it; one too long to keep is not kept (a cut path
    would name another file)."""
    return evidence if evidence and len(evidence) <= 500 else None


def _values(changes: dict[str, Any], **more: Any) -> dict[str, Any]:
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in {**changes, **more}.items()}
    values["updated_at"] = utcnow()
    return values


def _item(row: Row[Any]) -> WorkItem:
    return WorkItem.model_validate(dict(row._mapping))


def _ref(item: WorkItem) -> str:
    return f"{item.kind}:{item.business_key}"
