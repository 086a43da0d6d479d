"""A real SMTP server (aiosmtpd) that keeps every message it receives in the journal.

Faults (controls ``{"smtp": {"mail": {"fault": ..., "times": N}}}``), each at the moment of
the exchange that decides what the client may conclude:

- ``drop_before_data``: the connection is cut when the client names a recipient: nothing was
  received, nothing kept (the client must call it "not sent");
- ``busy``: the end of DATA is answered ``451``: received, refused, not kept;
- ``drop_after_data``: the whole message is received and **kept** (journaled, as a real server
  that queued it), then the connection is cut before the ``250``: the client cannot know; the
  mail reaches its recipients anyway.

Each kept mail's journal entry names its ``message_id``, so a test can count how many times
one message arrived.
"""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from simulators.controls import Controls
from simulators.journal import Journal

OPERATION = "mail"


class Mailbox:
    def __init__(self, journal: Journal, controls: Controls | None = None) -> None:
        self.journal = journal
        self.controls = controls

    def _fault(self, at: str) -> bool:
        """Whether the configured fault is the one of this moment (``times`` counts only
        the calls it fires in)."""
        if self.controls is None:
            return False
        if self.controls.get("smtp", OPERATION, "fault") != at:
            return False
        return self.controls.fault("smtp", OPERATION) == at

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self._fault("drop_before_data"):
            self.journal.record("smtp", "dropped", at="rcpt", rcpt=address)
            _cut(server)
            return "421 4.4.2 connection dropped"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        raw = raw if isinstance(raw, bytes) else raw.encode()
        if self._fault("busy"):
            self.journal.record("smtp", "refused", code=451, size=len(raw))
            return "451 4.3.0 mail system busy, try again later"
        subject, text, message_id = "", "", ""
        try:  # a mail server keeps what it accepted, even what it cannot decode
            message = message_from_bytes(raw, policy=policy.default)
            subject = str(message.get("Subject", ""))
            message_id = str(message.get("Message-ID", "")).strip()
            body = message.get_body(preferencelist=("plain", "html"))
            text = body.get_content() if body is not None else ""
        except (LookupError, ValueError, UnicodeError) as exc:
            text = f"[undecodable: {exc}] " + raw.decode("utf-8", errors="replace")
        self.journal.record(
            "smtp",
            "mail",
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            subject=subject,
            body=text,
            message_id=message_id,
            size=len(raw),
        )
        if self._fault("drop_after_data"):  # kept, and the 250 never leaves
            self.journal.record("smtp", "dropped", at="after_data", message_id=message_id)
            _cut(server)
        return "250 Message accepted for delivery"


def _cut(server: SMTP) -> None:
    """Close the connection at once, with no reply: a crash or a network cut, not a QUIT.
    What aiosmtpd then tries to write goes nowhere."""
    transport = server.transport
    if transport is not None:
        transport.abort()


async def start_smtp(
    journal: Journal, host: str = "127.0.0.1", port: int = 0, controls: Controls | None = None
) -> tuple[asyncio.AbstractServer, dict[str, Any]]:
    """The SMTP simulator; ``controls`` switches its faults on (none without)."""
    loop = asyncio.get_running_loop()
    handler = Mailbox(journal, controls)
    server = await loop.create_server(lambda: SMTP(handler, hostname="smtp.sim.local"), host, port)
    return server, {"host": host, "port": server.sockets[0].getsockname()[1]}
