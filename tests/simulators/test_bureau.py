import itertools
import re
import time

import pytest
import requests
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.wsse.username import UsernameToken

SAFE = Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True)
_refs = itertools.count(1)


def new_ref() -> str:
    """A request reference of its own: the simulator outlives the test, and keeps refs."""
    return f"T{time.time_ns()}-{next(_refs)}"


def client(endpoints: dict, password: str | None = None) -> Client:
    creds = endpoints["bureau"]
    token = UsernameToken(creds["username"], password or creds["password"], use_digest=True)
    return Client(creds["wsdl"], wsse=token, settings=SAFE)


@pytest.fixture(scope="module")
def bureau(sim_endpoints: dict) -> Client:
    return client(sim_endpoints)


def query(bureau: Client, person, reason: str = "01", ref: str | None = None):
    return bureau.service.QueryPersonalReport(
        requestRef=ref or new_ref(),
        idNumber=person.id_number,
        name=person.name,
        queryReason=reason,
        consentRef="CNS-1",
        operatorId="op-7",
    )


def known(sim_dataset, n: int = 0):
    return [p for p in sim_dataset.persons if p.known_to_bureau and p.accounts][n]


def test_personal_report_prints_dates_and_amounts_as_the_bureau_does(sim, bureau, sim_dataset):
    person = known(sim_dataset, 0)
    report = query(bureau, person)
    assert report.identity.idNumber == person.id_number
    assert re.fullmatch(r"R\d{16}", report.reportNo)
    account = report.accounts.account[0]
    assert account.accountNo == person.accounts[0].account_no
    assert account.status24m == person.accounts[0].status_24m
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", account.openDate)
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}", account.creditLimit)


def test_absent_values_are_sometimes_missing_and_sometimes_empty(
    sim,
    sim_endpoints,
    sim_dataset,
):
    history = HistoryPlugin()
    creds = sim_endpoints["bureau"]
    bureau = Client(
        creds["wsdl"],
        settings=SAFE,
        plugins=[history],
        wsse=UsernameToken(creds["username"], creds["password"], use_digest=True),
    )
    forms = set()
    ns = {"b": "urn:creditbureau:report:v1"}
    for person in [p for p in sim_dataset.persons if p.known_to_bureau][:40]:
        query(bureau, person, "02")
        raw = history.last_received["envelope"]
        for account in raw.iterfind(".//b:account", ns):
            overdue = account.find("b:overdueAmount", ns)
            if overdue is None:
                forms.add("missing")
            elif not (overdue.text or "").strip():
                forms.add("empty")
    assert forms == {"missing", "empty"}


def test_every_query_is_a_hard_inquiry_on_the_report(sim, bureau, sim_dataset):
    person = known(sim_dataset, 1)
    before = len(query(bureau, person).inquiries.inquiry)
    after = len(query(bureau, person, "02").inquiries.inquiry)
    assert after == before + 1
    queries = sim.journal("bureau", "query")
    assert [q["subject"] for q in queries] == [person.id_number, person.id_number]
    assert [q["reason"] for q in queries] == ["01", "02"]


def test_enterprise_report(sim, bureau, sim_dataset):
    firm = next(e for e in sim_dataset.enterprises if e.known_to_bureau)
    report = bureau.service.QueryEnterpriseReport(
        requestRef=new_ref(),
        uscc=firm.uscc,
        name=firm.name,
        queryReason="03",
        consentRef="C",
        operatorId="o",
    )
    assert report.uscc == firm.uscc
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}", report.registeredCapital)


def test_unknown_subject_is_a_business_answer_not_an_error(sim, bureau, sim_dataset):
    stranger = next(p for p in sim_dataset.persons if not p.known_to_bureau)
    with pytest.raises(Fault) as fault:
        query(bureau, stranger)
    assert fault.value.code.endswith("Client.SubjectNotFound")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"queryReason": "09"}, "Client"),
        ({"idNumber": "110105194912310021"}, "Client.InvalidIdentifier"),
        ({"idNumber": "11010519491231002²"}, "Client.InvalidIdentifier"),
    ],
)
def test_bad_input_is_a_client_fault(sim, bureau, sim_dataset, change, code):
    person = known(sim_dataset)
    params = {
        "requestRef": new_ref(),
        "idNumber": person.id_number,
        "name": person.name,
        "queryReason": "01",
        "consentRef": "C",
        "operatorId": "o",
        **change,
    }
    with pytest.raises(Fault) as fault:
        bureau.service.QueryPersonalReport(**params)
    assert fault.value.code == f"soap:{code}"


def test_wrong_password_is_client_authentication(sim, sim_endpoints, sim_dataset):
    with pytest.raises(Fault) as fault:
        query(client(sim_endpoints, password="wrong"), known(sim_dataset))
    assert fault.value.code == "soap:Client.Authentication"
    assert sim.journal("bureau", "query") == []


def _signed_envelope(endpoints: dict, person, created=None) -> bytes:
    plain = Client(endpoints["bureau"]["wsdl"], settings=SAFE)  # no token of its own
    envelope = plain.create_message(
        plain.service,
        "QueryPersonalReport",
        requestRef=new_ref(),
        idNumber=person.id_number,
        name=person.name,
        queryReason="01",
        consentRef="C",
        operatorId="o",
    )
    creds = endpoints["bureau"]
    UsernameToken(creds["username"], creds["password"], use_digest=True, created=created).apply(
        envelope, {}
    )
    return etree.tostring(envelope)


def test_replayed_nonce_and_stale_created_are_refused(sim, sim_endpoints, sim_dataset):
    from datetime import UTC, datetime, timedelta

    url = sim_endpoints["bureau"]["url"]
    body = _signed_envelope(sim_endpoints, known(sim_dataset))
    assert requests.post(url, data=body, timeout=10).status_code == 200
    replay = requests.post(url, data=body, timeout=10)
    assert replay.status_code == 500
    assert b"Client.Authentication" in replay.content
    assert b"nonce already used" in replay.content
    stale = _signed_envelope(
        sim_endpoints, known(sim_dataset), created=datetime.now(UTC) - timedelta(minutes=6)
    )
    answer = requests.post(url, data=stale, timeout=10)
    assert b"within 5 minutes" in answer.content


@pytest.mark.parametrize(
    "body",
    [
        b"<not-xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
        b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>',
    ],
)
def test_malformed_requests_get_a_client_fault_and_the_server_survives(
    sim,
    sim_endpoints,
    bureau,
    sim_dataset,
    body,
):
    answer = requests.post(sim_endpoints["bureau"]["url"], data=body, timeout=10)
    assert answer.status_code == 500
    assert b"<faultcode>soap:Client</faultcode>" in answer.content
    assert query(bureau, known(sim_dataset)).reportNo


def test_busy_fault_and_latency_controls(sim, bureau, sim_dataset):
    sim.controls({"bureau": {"QueryPersonalReport": {"rate": 1.0, "fault": "busy"}}})
    with pytest.raises(Fault) as fault:
        query(bureau, known(sim_dataset))
    assert fault.value.code == "soap:Server.Busy"
    sim.controls({"bureau": {"QueryPersonalReport": {"rate": 0.0, "latency": [0.3, 0.4]}}})
    start = time.perf_counter()
    query(bureau, known(sim_dataset))
    assert time.perf_counter() - start >= 0.3
    sim.controls({"bureau": {"QueryPersonalReport": {"latency": 0}}})


# -- request references and RetrieveReport (legacy-systems.md §1) ------------------------------


def retrieve(bureau: Client, ref: str):
    return bureau.service.RetrieveReport(requestRef=ref)


def test_a_kept_answer_is_retrieved_without_a_new_hard_inquiry(sim, bureau, sim_dataset):
    person = known(sim_dataset, 2)
    ref = new_ref()
    first = query(bureau, person, ref=ref)
    again = retrieve(bureau, ref)
    assert again.requestRef == ref
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}", again.queriedAt)
    report = again.QueryPersonalReportResponse.report
    assert report.reportNo == first.reportNo  # the very answer, not a new report
    assert len(report.inquiries.inquiry) == len(first.inquiries.inquiry)
    assert len(sim.journal("bureau", "query")) == 1
    (read,) = sim.journal("bureau", "retrieval")
    assert (read["request_ref"], read["found"], read["subject"]) == (ref, True, person.id_number)
    later = query(bureau, person)  # the next query shows one inquiry more, not two
    assert len(later.inquiries.inquiry) == len(first.inquiries.inquiry) + 1


def test_a_reference_sent_again_is_a_duplicate_and_records_nothing(sim, bureau, sim_dataset):
    person = known(sim_dataset, 3)
    ref = new_ref()
    before = len(query(bureau, person, ref=ref).inquiries.inquiry)
    with pytest.raises(Fault) as fault:
        query(bureau, person, "02", ref=ref)
    assert fault.value.code == "soap:Client.DuplicateRequest"
    assert len(sim.journal("bureau", "query")) == 1
    assert len(sim.journal("bureau", "duplicate_request")) == 1
    assert len(query(bureau, person).inquiries.inquiry) == before + 1  # no inquiry for it


def test_an_unknown_or_expired_reference_is_request_not_found(sim, bureau, sim_dataset):
    with pytest.raises(Fault) as fault:
        retrieve(bureau, new_ref())
    assert fault.value.code == "soap:Client.RequestNotFound"
    ref = new_ref()
    query(bureau, known(sim_dataset, 4), ref=ref)
    sim.controls({"bureau": {"RetrieveReport": {"retention_days": 0}}})  # its 7 days are over
    with pytest.raises(Fault) as fault:
        retrieve(bureau, ref)
    assert fault.value.code == "soap:Client.RequestNotFound"
    query(bureau, known(sim_dataset, 4), ref=ref)  # forgotten: the reference is free again


def test_a_thin_file_is_kept_and_retrieved_as_the_same_answer(sim, bureau, sim_dataset):
    stranger = next(p for p in sim_dataset.persons if not p.known_to_bureau)
    ref = new_ref()
    with pytest.raises(Fault):
        query(bureau, stranger, ref=ref)
    with pytest.raises(Fault) as fault:
        retrieve(bureau, ref)
    assert fault.value.code.endswith("Client.SubjectNotFound")


def test_a_refused_query_keeps_no_reference(sim, bureau, sim_dataset):
    person = known(sim_dataset, 5)
    ref = new_ref()
    with pytest.raises(Fault):
        query(bureau, person, reason="09", ref=ref)
    with pytest.raises(Fault) as fault:
        retrieve(bureau, ref)
    assert fault.value.code == "soap:Client.RequestNotFound"
    assert query(bureau, person, ref=ref).reportNo  # a corrected query may use it
    with pytest.raises(Fault) as fault:
        query(bureau, person, ref="no spaces allowed")
    assert fault.value.code == "soap:Client"


def test_a_lost_answer_was_recorded_and_can_be_retrieved(sim, bureau, sim_dataset):
    person = known(sim_dataset, 6)
    ref = new_ref()
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(requests.RequestException):  # the line died in the middle of the answer
        query(bureau, person, ref=ref)
    assert len(sim.journal("bureau", "query")) == 1  # the inquiry is on the subject's file
    assert len(sim.journal("bureau", "answer_lost")) == 1
    report = retrieve(bureau, ref).QueryPersonalReportResponse.report
    assert report.identity.idNumber == person.id_number
    assert len(sim.journal("bureau", "query")) == 1
