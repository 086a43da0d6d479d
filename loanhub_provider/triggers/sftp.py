"""Wait in the triggerer until a counterpart's file (and its ``.ok``) is on the SFTP exchange.

One trigger serves every file wait of the hub: the tax authority's answer in ``/outbox``, the
gateway's pain.002 reports in ``/payments/out``, the core's nightly extract in ``/extracts``.
It is given data only (the connection id, a folder, a name pattern, what was already seen),
reads the connection asynchronously from Airflow's secrets backends in the triggerer, pins the
host key from the connection's extra ``host_key``, and polls with asyncssh. It builds no store
and no hub: the worker resumed by its event does the work (take the file, store, settle).

A dropped or refused connection is waited out (the next poll asks again); a wrong host key, a
refused client key or a missing folder fails the wait with its cause, since asking again will
not help.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from connectors.sftp_async import SftpTarget

DEFAULT_CONN_ID = "loanhub_sftp"
POKE_SECONDS = 5.0
log = logging.getLogger(__name__)


async def sftp_target(conn_id: str) -> SftpTarget:
    """The SFTP target of the Airflow connection ``conn_id``, read without blocking the loop:
    host, port, login, extra ``host_key`` (pinned, OpenSSH line) and ``private_key_path`` or
    ``private_key`` (PEM; Airflow masks it as a secret). Imported here, not at the module's top,
    so a DAG file importing the operator does not pay for asyncssh."""
    from connectors.sftp_async import SftpTarget

    conn = await BaseHook.aget_connection(conn_id)
    extra: Mapping[str, Any] = conn.extra_dejson
    path = extra.get("private_key_path")
    return SftpTarget(
        host=conn.host or "",
        port=int(conn.port or 22),
        username=conn.login or "",
        host_key=str(extra.get("host_key", "")),
        private_key_path=Path(path) if path else None,
        private_key=extra.get("private_key") or None,
        connect_timeout=float(extra.get("connect_timeout", 10.0)),
        io_timeout=float(extra.get("io_timeout", 30.0)),
    )


class SftpFileTrigger(BaseTrigger):
    """Fires once a file of ``folder`` whose name matches ``pattern`` (a whole-name regular
    expression) is there, with its ``<name>.ok`` when ``require_ok``, in a delivery not in
    ``seen`` (name -> delivery, as ``AsyncSftpSession.delivered`` names them: a file the hub
    already took or refused is waited past until it is delivered again). The event carries
    ``{"folder": ..., "files": {name: delivery}}``, the new deliveries only.

    ``recheck_seconds`` (optional) fires an event with no files after that long even if
    nothing new came: for a worker that must look again at something the folder cannot show
    (a payment whose upload's outcome is unknown), without holding a slot in between."""

    def __init__(
        self,
        folder: str,
        pattern: str,
        *,
        conn_id: str = DEFAULT_CONN_ID,
        require_ok: bool = True,
        seen: Mapping[str, str] | None = None,
        poke_seconds: float = POKE_SECONDS,
        recheck_seconds: float | None = None,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.pattern = pattern
        self.conn_id = conn_id
        self.require_ok = require_ok
        self.seen = dict(seen or {})
        self.poke_seconds = poke_seconds
        self.recheck_seconds = recheck_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "folder": self.folder,
                "pattern": self.pattern,
                "conn_id": self.conn_id,
                "require_ok": self.require_ok,
                "seen": self.seen,
                "poke_seconds": self.poke_seconds,
                "recheck_seconds": self.recheck_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from connectors.sftp_async import AsyncSftpClient
        from kernel.failures import TransientError

        client = AsyncSftpClient(await sftp_target(self.conn_id), system=self.conn_id)
        loop = asyncio.get_running_loop()
        recheck_at = None if self.recheck_seconds is None else loop.time() + self.recheck_seconds
        while True:
            try:
                async with client.session() as session:
                    found = await session.delivered(
                        self.folder, self.pattern, require_ok=self.require_ok
                    )
                new = {name: v for name, v in found.items() if self.seen.get(name) != v}
                if new:
                    for name, v in new.items():
                        log.info("%s: %s arrived in %s (%s)", self.conn_id, name, self.folder, v)
                    yield TriggerEvent({"folder": self.folder, "files": new})
                    return
            except TransientError as exc:
                log.warning("%s not reachable, asking again: %s", self.conn_id, exc)
            if recheck_at is not None and loop.time() >= recheck_at:
                yield TriggerEvent({"folder": self.folder, "files": {}})
                return
            await asyncio.sleep(self.poke_seconds)
