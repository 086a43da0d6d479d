"""A real SMTP server (aiosmtpd) that keeps every message it receives in the journal."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from simulators.journal import Journal


class Mailbox:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        raw = raw if isinstance(raw, bytes) else raw.encode()
        subject, text = "", ""
        try:  # a mail server keeps what it accepted, even what it cannot decode
            message = message_from_bytes(raw, policy=policy.default)
            subject = str(message.get("Subject", ""))
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
            size=len(raw),
        )
        return "250 Message accepted for delivery"


async def start_smtp(
    journal: Journal, host: str = "127.0.0.1", port: int = 0
) -> tuple[asyncio.AbstractServer, dict[str, Any]]:
    loop = asyncio.get_running_loop()
    handler = Mailbox(journal)
    server = await loop.create_server(lambda: SMTP(handler, hostname="smtp.sim.local"), host, port)
    return server, {"host": host, "port": server.sockets[0].getsockname()[1]}
