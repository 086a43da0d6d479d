"""Every call a connector makes reaches its observer once per attempt, timed, with the
failure kind it ended in: what the dashboard's source health and ``/metrics`` are built on."""

from __future__ import annotations

import asyncssh
import pytest

from connectors.config import SmtpConfig
from connectors.core import CoreConnector
from connectors.sftp import SftpConnector
from connectors.smtp import Notifier
from kernel.calls import SourceCall
from kernel.failures import BusinessAnswer, ContractError, TransientError
from loanhub.platform.masking import mask_text
from tests.connectors.conftest import sftp_config, soap_config


class Calls(list[SourceCall]):
    def __call__(self, call: SourceCall) -> None:
        self.append(call)

    def seen(self) -> list[tuple[str, str, str]]:
        return [(c.system, c.operation, c.outcome.value) for c in self]


def test_soap_attempts_are_observed_with_their_outcome(sim, sim_endpoints, sim_dataset):
    calls = Calls()
    core = CoreConnector(soap_config(sim_endpoints, "core"), mask_text, observer=calls)
    sim.controls({"core": {"GetCustomerByIdNumber": {"latency": 0.2}}})
    customer = sim_dataset.customers[0]
    core.customer(customer.id_number)
    stranger = next(p for p in sim_dataset.persons if p.id_number not in sim_dataset.customer_by_id)
    with pytest.raises(BusinessAnswer):
        core.customer(stranger.id_number)
    sim.controls({"core": {"GetAccounts": {"fault": "busy", "times": 1}}})
    core.accounts(customer.customer_no)
    assert calls.seen() == [
        ("core", "GetCustomerByIdNumber", "ok"),
        ("core", "GetCustomerByIdNumber", "business"),
        ("core", "GetAccounts", "transient"),  # the busy attempt, then its retry
        ("core", "GetAccounts", "ok"),
    ]
    assert calls[0].duration_ms >= 200  # the simulator's latency, measured
    assert calls[2].error is not None
    assert "Busy" in calls[2].error


def test_sftp_sessions_are_observed_by_operation(sim, sim_endpoints):
    calls = Calls()
    connector = SftpConnector(sftp_config(sim_endpoints), system="gateway", observer=calls)
    with connector.session("look") as s:
        s.listdir("/payments/out")
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    stranger = SftpConnector(sftp_config(sim_endpoints, host_key=other), observer=calls)
    with pytest.raises(ContractError), stranger.session("look"):
        pass
    assert calls.seen() == [("gateway", "look", "ok"), ("sftp", "look", "contract")]


def test_mail_is_observed_and_a_broken_observer_loses_only_the_sample(sim, sim_endpoints):
    calls = Calls()
    Notifier(SmtpConfig(**sim_endpoints["smtp"]), mask_text, observer=calls).send(
        ["risk@bank.local"], "s", "b"
    )

    def broken(call: SourceCall) -> None:
        raise RuntimeError("store down")

    Notifier(SmtpConfig(**sim_endpoints["smtp"]), mask_text, observer=broken).send(
        ["risk@bank.local"], "s", "b"
    )  # sent all the same
    with pytest.raises(TransientError):
        Notifier(SmtpConfig(host="127.0.0.1", port=9, timeout=2), mask_text, observer=calls).send(
            ["x@y"], "s", "b"
        )
    assert calls.seen() == [("smtp", "send", "ok"), ("smtp", "send", "transient")]
    assert len(sim.journal("smtp", "mail")) == 2
