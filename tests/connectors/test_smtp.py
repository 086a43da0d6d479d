import socket

import pytest

from connectors.config import SmtpConfig
from connectors.smtp import Notifier
from kernel.failures import TransientError
from loanhub.platform.masking import mask_text


def test_warnings_leave_masked(sim, sim_endpoints):
    notifier = Notifier(SmtpConfig(**sim_endpoints["smtp"]), mask_text)
    notifier.send(
        ["risk@bank.local"],
        "逾期预警 11010519491231002X",
        "客户 11010519491231002X 手机 13812345678 逾期 31 天",
    )
    (mail,) = sim.journal("smtp", "mail")
    assert "11010519491231002X" not in mail["subject"] + mail["body"]
    assert "13812345678" not in mail["body"]
    assert "1****************X" in mail["subject"]
    assert "138****5678" in mail["body"]


def test_an_unreachable_mail_server_is_transient():
    notifier = Notifier(SmtpConfig(host="127.0.0.1", port=9, timeout=2), mask_text)
    with pytest.raises(TransientError):
        notifier.send(["x@y"], "s", "b")


def test_a_permanent_refusal_is_a_contract_failure():
    """A real SMTP server (aiosmtpd) that refuses every message with 554."""
    from aiosmtpd.controller import Controller

    from kernel.failures import ContractError

    class Refuse:
        async def handle_DATA(self, server, session, envelope):
            return "554 5.7.1 message refused"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.raises(ContractError, match="554"):
            Notifier(SmtpConfig(host="127.0.0.1", port=port), mask_text).send(["a@b"], "s", "b")
    finally:
        controller.stop()


# -- what "sent" means: the 250 after the end of DATA ---------------------------------------


class SmtpSim:
    """The SMTP simulator (``simulators.smtp``) in this process, on a loopback port, with its
    own controls and journal: a real server whose faults a test sets directly."""

    def __init__(self) -> None:
        import asyncio
        import threading

        from simulators.controls import Controls
        from simulators.journal import Journal
        from simulators.smtp import start_smtp

        self.controls = Controls()
        self.journal = Journal()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server, info = asyncio.run_coroutine_threadsafe(
            start_smtp(self.journal, "127.0.0.1", 0, self.controls), self.loop
        ).result(10)
        self.config = SmtpConfig(host=info["host"], port=info["port"], timeout=5)

    def fault(self, kind: str, times: int = 1) -> None:
        self.controls.update({"smtp": {"mail": {"fault": kind, "times": times}}})

    def mails(self) -> list[dict]:
        return self.journal.entries("smtp", "mail")

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def smtp_sim():
    server = SmtpSim()
    yield server
    server.stop()


def test_a_mail_carries_the_message_id_of_its_work_item(smtp_sim):
    from connectors.smtp import message_id_for

    mid = message_id_for("warning_mail", "dpd_1:LN0001:20261101")
    assert mid == message_id_for("warning_mail", "dpd_1:LN0001:20261101")  # deterministic
    assert mid != message_id_for("warning_escalation", "dpd_1:LN0001:20261101")
    assert "LN0001" not in mid  # the key names a loan: hashed, not spelt out
    notifier = Notifier(smtp_sim.config, mask_text)
    assert notifier.send(["a@b"], "s", "b", message_id=mid) == mid
    (mail,) = smtp_sim.mails()
    assert mail["message_id"] == mid


def test_a_drop_before_the_end_of_data_is_transient_and_nothing_is_kept(smtp_sim):
    smtp_sim.fault("drop_before_data")
    with pytest.raises(TransientError, match="nothing sent"):
        Notifier(smtp_sim.config, mask_text).send(["a@b"], "s", "b")
    assert smtp_sim.mails() == []
    assert smtp_sim.journal.entries("smtp", "dropped")  # the fault did fire


def test_a_busy_reply_to_the_end_of_data_is_transient(smtp_sim):
    smtp_sim.fault("busy")
    with pytest.raises(TransientError, match="451"):
        Notifier(smtp_sim.config, mask_text).send(["a@b"], "s", "b")
    assert smtp_sim.mails() == []


def test_a_drop_after_the_end_of_data_is_outcome_unknown(smtp_sim):
    """The server has the message (it is journaled) but its 250 never came: the hub cannot
    tell, so it must not say "not sent" (a retry would be a blind resend) nor "sent"."""
    from kernel.failures import OutcomeUnknown

    smtp_sim.fault("drop_after_data")
    with pytest.raises(OutcomeUnknown, match="after the end of DATA"):
        Notifier(smtp_sim.config, mask_text).send(["a@b"], "s", "b", message_id="<m1@loanhub>")
    (mail,) = smtp_sim.mails()
    assert mail["message_id"] == "<m1@loanhub>"
    # the fault was once: the next mail goes through
    Notifier(smtp_sim.config, mask_text).send(["a@b"], "s2", "b")
    assert len(smtp_sim.mails()) == 2
