"""Warnings by e-mail over SMTP, with personal data masked before anything leaves the hub.

What "sent" means here, because a mail can be lost at any moment of the exchange:

- **sent** is the server's ``250`` reply to the end of DATA (the ``<CRLF>.<CRLF>`` line): from
  then on the server has taken responsibility for the message (RFC 5321 §4.1.1.4, §6.1);
- anything that fails before the terminator left the hub (connect, TLS, EHLO, MAIL, RCPT,
  the DATA command, the message body itself) sent nothing: a server that never saw the end
  of DATA must discard the message. ``TransientError`` (or ``ContractError`` for a permanent
  5xx refusal), and the next attempt sends it;
- a reply after the terminator other than 250 is the server's refusal: nothing was accepted;
- the connection lost (or a timeout) *after* the terminator was written and before the reply
  is ``OutcomeUnknown``: the server may hold the message. SMTP offers no way to ask a server
  what it accepted, so such a mail is settled by sending it again under the **same
  Message-ID** (``message_id_for``): at least once, and receivers (and the bank's mail
  archive) drop a duplicate by its Message-ID. ``loanhub.flows.warnings.settle_mails`` does it.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from connectors.config import Masker, SmtpConfig
from kernel.calls import CallObserver, ignore_call, observed
from kernel.failures import ContractError, OutcomeUnknown, TransientError

MESSAGE_ID_DOMAIN = "loanhub"


def message_id_for(kind: str, key: str, domain: str = MESSAGE_ID_DOMAIN) -> str:
    """The Message-ID of the mail that work item ``(kind, key)`` sends: derived from the item,
    so every attempt and every resend of it is recognisably the same message. The key is
    hashed: it names a loan account, and a Message-ID travels in every header."""
    digest = hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()[:32]
    return f"<{kind}.{digest}@{domain}>"


class _Smtp(smtplib.SMTP):
    """``smtplib.SMTP`` that remembers whether the end of DATA left for the server: the one
    fact that tells "nothing sent" from "outcome unknown" when the connection then drops."""

    data_ended = False

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        """RFC 5321 DATA, as ``smtplib.SMTP.data``, with the moment of the terminator kept."""
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        raw = msg.encode("ascii") if isinstance(msg, str) else msg
        quoted = re.sub(rb"(?m)^\.", b"..", raw)  # dot-stuffing (RFC 5321 §4.5.2)
        if not quoted.endswith(b"\r\n"):
            quoted += b"\r\n"
        # one sendall, terminator last: if it raises, the server has not seen the end of DATA
        self.send(quoted + b".\r\n")
        self.data_ended = True
        return self.getreply()


class Notifier:
    def __init__(
        self, config: SmtpConfig, mask: Masker, *, observer: CallObserver = ignore_call
    ) -> None:
        self.config = config
        self.mask = mask
        self.observer = observer

    def send(self, to: list[str], subject: str, body: str, *, message_id: str | None = None) -> str:
        """Send one plain-text mail; returns its Message-ID once the server said 250.

        ``message_id``: the mail's identity across attempts (``message_id_for``); a fresh one
        when not given. Raises ``TransientError``/``ContractError`` when nothing was sent and
        ``OutcomeUnknown`` when the server may have the message without having said so.
        """
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = ", ".join(to)
        message["Subject"] = self.mask(subject)
        message["Message-ID"] = message_id or make_msgid(domain=MESSAGE_ID_DOMAIN)
        message.set_content(self.mask(body))
        with observed(self.observer, "smtp", "send"):
            self._deliver(message)
        return str(message["Message-ID"])

    def _deliver(self, message: EmailMessage) -> None:
        mid = message["Message-ID"]
        try:
            smtp = _Smtp(self.config.host, self.config.port, timeout=self.config.timeout)
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, bad greeting
            raise TransientError(f"mail server unreachable: {exc}", system="smtp") from exc
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ContractError(f"recipients refused: {exc.recipients}", system="smtp") from exc
        except smtplib.SMTPResponseException as exc:  # 4xx try later, 5xx will never work
            kind = TransientError if 400 <= exc.smtp_code < 500 else ContractError
            raise kind(
                f"mail server said {exc.smtp_code}: {exc.smtp_error!r}", system="smtp"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if smtp.data_ended:  # the whole message is there; its acceptance never came back
                raise OutcomeUnknown(
                    f"mail {mid}: connection lost after the end of DATA, before the reply: {exc}",
                    system="smtp",
                ) from exc
            raise TransientError(
                f"mail server lost before the end of DATA (nothing sent): {exc}", system="smtp"
            ) from exc
        finally:
            _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a server gone by now changes nothing about what was sent."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
