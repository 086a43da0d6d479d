"""The mail relay on Airflow's own ``smtp`` connection type (the SMTP provider's form):
host, port, extra ``from_email``. This hook only turns it into the hub's ``SmtpConfig``."""

from __future__ import annotations

import smtplib
from typing import ClassVar

from connectors.config import SmtpConfig
from loanhub_provider.hooks.base import LoanhubHook


class SmtpHook(LoanhubHook):
    conn_type: ClassVar[str] = "smtp"
    default_conn_name: ClassVar[str] = "loanhub_smtp"
    hook_name: ClassVar[str] = "Loanhub mail relay"

    def get_config(self) -> SmtpConfig:
        conn = self.connection
        self.secret(conn.password, f"{self.conn_id}.password")
        sender = self.field("from_email")
        return SmtpConfig(
            host=str(self.required(conn.host, "host")),
            port=int(conn.port or 25),
            **({"sender": str(sender)} if sender else {}),
        )

    def test_connection(self) -> tuple[bool, str]:
        """EHLO and NOOP: the relay answers; no mail sent."""
        try:
            config = self.get_config()
        except ValueError as exc:
            return False, f"connection {self.conn_id!r} is incomplete: {exc}"
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
                code, _ = smtp.ehlo()
                noop, _ = smtp.noop()
        except (OSError, smtplib.SMTPException) as exc:
            return False, f"{config.host}:{config.port} not reachable: {exc}"
        if code != 250 or noop != 250:
            return False, f"{config.host}:{config.port} answered EHLO {code}, NOOP {noop}"
        return True, f"{config.host}:{config.port} answers EHLO and NOOP"
