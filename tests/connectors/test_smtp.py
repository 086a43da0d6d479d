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
