"""Warnings by e-mail over SMTP, with personal data masked before anything leaves the hub."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from connectors.config import Masker, SmtpConfig
from kernel.calls import CallObserver, ignore_call, observed
from kernel.failures import ContractError, TransientError


class Notifier:
    def __init__(
        self, config: SmtpConfig, mask: Masker, *, observer: CallObserver = ignore_call
    ) -> None:
        self.config = config
        self.mask = mask
        self.observer = observer

    def send(self, to: list[str], subject: str, body: str) -> str:
        """Send one plain-text mail; returns its Message-ID."""
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = ", ".join(to)
        message["Subject"] = self.mask(subject)
        message["Message-ID"] = make_msgid(domain="loanhub")
        message.set_content(self.mask(body))
        with observed(self.observer, "smtp", "send"):
            self._deliver(message)
        return message["Message-ID"]

    def _deliver(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(
                self.config.host, self.config.port, timeout=self.config.timeout
            ) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ContractError(f"recipients refused: {exc.recipients}", system="smtp") from exc
        except smtplib.SMTPResponseException as exc:  # 4xx try later, 5xx will never work
            kind = TransientError if 400 <= exc.smtp_code < 500 else ContractError
            raise kind(
                f"mail server said {exc.smtp_code}: {exc.smtp_error!r}", system="smtp"
            ) from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise TransientError(f"mail server unreachable: {exc}", system="smtp") from exc
