"""The bureau connector as a plain SOAP client: real simulator, no store, no ledger, no consent
book. It sends the one query it is asked for; consent and "once" are the flows' tests
(tests/loanhub/flows/test_bureau_inquiries.py)."""

import itertools
import logging
import time

import pytest

from connectors.bureau import BureauConnector
from kernel.failures import ContractError, OutcomeUnknown, TransientError
from loanhub.platform.masking import mask_text
from tests.connectors.conftest import soap_config


@pytest.fixture
def bureau(sim_endpoints, evidence) -> BureauConnector:
    return BureauConnector(soap_config(sim_endpoints, "bureau"), mask_text, evidence)


def known(sim_dataset, n: int = 0):
    return [p for p in sim_dataset.persons if p.known_to_bureau and p.accounts][n]


def queries(sim) -> list[dict]:
    return sim.journal("bureau", "query")


_refs = itertools.count(1)


def ref() -> str:
    """A fresh request reference (the simulator keeps every one it answered for 7 days)."""
    return f"C{time.time_ns()}-{next(_refs)}"


def test_a_report_comes_back_raw_and_kept_in_the_evidence_store(sim, bureau, sim_dataset):
    person = known(sim_dataset, 10)
    report = bureau.query("personal", person.id_number, person.name, "01", "CNS-1", ref())
    assert not report.thin_file
    assert report.report_no.startswith("R")
    assert person.id_number.encode() in report.raw
    assert bureau.store.get_raw(report.raw_sha256) == report.raw
    kept = bureau.kept(person.id_number, "01", report.summary())
    assert kept == report  # rebuilt from the work item's summary and the evidence store
    (sent,) = queries(sim)
    assert (sent["consent_ref"], sent["reason"], sent["operator"]) == ("CNS-1", "01", "loanhub")


def test_each_call_is_one_inquiry_the_connector_reuses_nothing(sim, bureau, sim_dataset):
    person = known(sim_dataset, 11)
    bureau.query("personal", person.id_number, person.name, "01", "CNS-1", ref())
    bureau.query("personal", person.id_number, person.name, "01", "CNS-1", ref())
    assert len(queries(sim)) == 2  # "once" is the flows' policy, not the protocol client's


def test_busy_then_success_is_retried(sim, bureau, sim_dataset):
    person = known(sim_dataset, 12)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "busy", "times": 2}}})
    report = bureau.query("personal", person.id_number, person.name, "01", "CNS-1", ref())
    assert report.report_no
    assert len(sim.journal("bureau", "busy")) == 2
    assert len(queries(sim)) == 1


def test_busy_beyond_the_retry_budget_is_transient(sim, bureau, sim_dataset):
    person = known(sim_dataset, 13)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "busy", "times": 3}}})
    with pytest.raises(TransientError):
        bureau.query("personal", person.id_number, person.name, "01", "CNS-1", ref())
    assert queries(sim) == []


def test_an_unknown_subject_is_a_thin_file(sim, bureau, sim_dataset):
    stranger = next(p for p in sim_dataset.persons if not p.known_to_bureau)
    report = bureau.query("personal", stranger.id_number, stranger.name, "01", "CNS-1", ref())
    assert report.thin_file
    assert report.raw is None
    assert bureau.kept(stranger.id_number, "01", report.summary()).thin_file


def test_a_wrong_password_fails_at_once(sim, sim_endpoints, evidence, sim_dataset):
    person = known(sim_dataset, 14)
    wrong = soap_config(sim_endpoints, "bureau", password="wrong")
    bureau = BureauConnector(wrong, mask_text, evidence)
    with pytest.raises(ContractError, match=r"Client\.Authentication"):
        bureau.query("personal", person.id_number, person.name, "01", "CNS-1", ref())
    assert len(sim.journal("bureau", "auth_failed")) == 1  # not retried


def test_a_bad_checksum_or_reason_is_refused_before_anything_is_sent(sim, bureau, sim_dataset):
    with pytest.raises(ContractError, match="check character"):
        bureau.query("personal", "110105194912310021", "张三", "01", "CNS-1", ref())
    person = known(sim_dataset, 15)
    with pytest.raises(ContractError, match="query reason"):
        bureau.query("personal", person.id_number, person.name, "09", "CNS-1", ref())
    with pytest.raises(ContractError):
        bureau.query("enterprise", person.id_number, person.name, "01", "CNS-1", ref())
    assert sim.journal("bureau") == []


def test_zeep_debug_logging_shows_no_password_and_no_clear_id(
    sim, bureau, sim_endpoints, sim_dataset, caplog
):
    person = known(sim_dataset, 16)
    with caplog.at_level(logging.DEBUG, logger="zeep"):
        bureau.query("personal", person.id_number, person.name, "01", "CNS-1", ref())
    text = caplog.text
    assert "QueryPersonalReport" in text  # zeep did log the envelopes
    assert person.id_number not in text
    assert mask_text(person.id_number) in text
    assert sim_endpoints["bureau"]["password"] not in text
    assert 'PasswordDigest">***<' in text


def test_an_enterprise_report(sim, bureau, sim_dataset):
    firm = next(e for e in sim_dataset.enterprises if e.known_to_bureau)
    report = bureau.query("enterprise", firm.uscc, firm.name, "01", "CNS-2", ref())
    assert firm.uscc.encode() in report.raw
    assert len(queries(sim)) == 1


def test_a_lost_answer_is_in_doubt_and_retrieved_without_a_second_inquiry(sim, bureau, sim_dataset):
    person = known(sim_dataset, 17)
    sent = ref()
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(OutcomeUnknown):  # recorded at the bureau, answer broken off: not resent
        bureau.query("personal", person.id_number, person.name, "01", "CNS-1", sent)
    assert len(queries(sim)) == 1
    report = bureau.retrieve(sent, person.id_number, "01")
    assert report is not None
    assert not report.thin_file
    assert person.id_number.encode() in report.raw
    assert bureau.store.get_raw(report.raw_sha256) == report.raw
    assert bureau.kept(person.id_number, "01", report.summary()) == report
    assert len(queries(sim)) == 1  # a retrieval is not an inquiry
    assert [r["request_ref"] for r in sim.journal("bureau", "retrieval")] == [sent]


def test_retrieving_a_reference_never_received_is_none(sim, bureau, sim_dataset):
    person = known(sim_dataset, 18)
    assert bureau.retrieve(ref(), person.id_number, "01") is None
    assert queries(sim) == []


def test_a_retrieved_thin_file_and_a_report_about_someone_else(sim, bureau, sim_dataset):
    stranger = next(p for p in sim_dataset.persons if not p.known_to_bureau)
    thin = ref()
    bureau.query("personal", stranger.id_number, stranger.name, "01", "CNS-1", thin)
    assert bureau.retrieve(thin, stranger.id_number, "01").thin_file
    person, other = known(sim_dataset, 19), known(sim_dataset, 20)
    sent = ref()
    bureau.query("personal", person.id_number, person.name, "01", "CNS-1", sent)
    with pytest.raises(ContractError, match="another subject"):  # never filed under another
        bureau.retrieve(sent, other.id_number, "01")


def test_a_duplicate_reference_is_a_contract_failure_and_a_bad_one_is_never_sent(
    sim, bureau, sim_dataset
):
    person = known(sim_dataset, 21)
    sent = ref()
    bureau.query("personal", person.id_number, person.name, "01", "CNS-1", sent)
    with pytest.raises(ContractError, match="DuplicateRequest"):
        bureau.query("personal", person.id_number, person.name, "01", "CNS-1", sent)
    with pytest.raises(ContractError, match="request reference"):
        bureau.query("personal", person.id_number, person.name, "01", "CNS-1", "x" * 33)
    assert len(queries(sim)) == 1
