"""The SOAP client against servers that misbehave: hostile XML, huge and hanging answers."""

import contextlib
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connectors.config import SoapConfig
from connectors.core import CoreConnector
from connectors.soap import SoapClient
from kernel.failures import BusinessAnswer, ContractError, OutcomeUnknown, TransientError
from loanhub.platform.masking import mask_text
from tests.connectors.conftest import FAST_RETRY, soap_config

WSDL = (Path(__file__).resolve().parents[2] / "contracts" / "wsdl" / "bureau.wsdl").read_text()
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<x>&lol9;</x></soap:Body></soap:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<x>&xxe;</x></soap:Body></soap:Envelope>"""
HIDDEN_ENTITY = (
    b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/'
    b'soap/envelope/"><soap:Body><x>' + b"A" * 100 + b"</x><!ENTITY y 'z'>"
    b"</soap:Body></soap:Envelope>"
)
HUGE = b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>" + b" " * (
    40 * 1024 * 1024
)


class Hostile(BaseHTTPRequestHandler):
    answer: bytes = b""
    delay: float = 0.0
    mode: str = "answer"  # answer | trickle | reset
    posts: int = 0
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = WSDL.replace(
            "http://127.0.0.1:0/bureau", f"http://127.0.0.1:{self.server.server_port}/bureau"
        ).encode()
        self._send(200, body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts += 1
        if type(self).mode == "reset":  # the bureau got it, then the line went dead
            self.connection.shutdown(2)
            return
        if type(self).mode == "trickle":  # headers, a little body, then a byte now and then
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
            return
        time.sleep(type(self).delay)
        self._send(200, type(self).answer)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[type[Hostile]]:
    handler = type("Handler", (Hostile,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_port}/bureau"
    yield handler
    server.shutdown()


def client_for(handler: type[Hostile], timeout: float = 5.0) -> SoapClient:
    config = SoapConfig(
        url=handler.url,
        wsdl=handler.url + "?wsdl",
        username="u",
        password="p",
        operation_timeout=timeout,
        connect_timeout=1.0,
        retry=FAST_RETRY,
    )
    client = SoapClient(config, mask_text)
    client.system = "bureau"
    return client


def ask(client: SoapClient, idempotent: bool = False):
    return client.call(
        "QueryPersonalReport",
        idempotent=idempotent,
        idNumber="1",
        name="n",
        queryReason="01",
        consentRef="c",
        operatorId="o",
    )


@pytest.mark.parametrize(
    "answer",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, HIDDEN_ENTITY, HUGE],
    ids=["billion-laughs", "external-entity", "hidden-entity", "40MB"],
)
def test_hostile_answers_are_refused_with_memory_bounded(hostile, answer):
    hostile.answer = answer
    client = client_for(hostile)
    tracemalloc.start()
    try:
        with pytest.raises(ContractError):
            ask(client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024  # the 40 MB answer is cut at 16 MB, entities never expand


def test_a_hanging_endpoint_stops_at_the_operation_timeout(hostile):
    hostile.answer, hostile.delay = b"late", 5.0
    client = client_for(hostile, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(OutcomeUnknown):  # a bureau query may have been recorded: in doubt
        ask(client)
    assert time.monotonic() - start < 2.5
    start = time.monotonic()
    with pytest.raises(TransientError):  # a read is safe to retry, and is, within bounds
        ask(client, idempotent=True)
    assert time.monotonic() - start < 4.0


def test_a_refused_connection_is_transient():
    config = SoapConfig(
        url="http://127.0.0.1:9/x",
        wsdl=str(Path(__file__).resolve().parents[2] / "contracts/wsdl/bureau.wsdl"),
        username="u",
        password="p",
        retry=FAST_RETRY,
    )
    client = SoapClient(config, mask_text)
    with pytest.raises(TransientError, match="connection refused"):
        ask(client)


def test_an_error_hidden_in_a_200_answer_is_a_fault(hostile):
    hostile.answer = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body><soap:Fault><faultcode>soap:Client.SubjectNotFound</faultcode>"
        b"<faultstring>none</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    )
    with pytest.raises(BusinessAnswer):
        ask(client_for(hostile))


def test_core_reads(sim, sim_endpoints, sim_dataset, evidence):
    core = CoreConnector(soap_config(sim_endpoints, "core"), mask_text, evidence)
    customer = sim_dataset.customers[0]
    found = core.customer(customer.id_number)
    assert found.body.findtext(".//{*}customerNo") == customer.customer_no
    assert evidence.get_raw(found.sha256) == found.raw
    accounts = core.accounts(customer.customer_no)
    assert [a.findtext("{*}accountNo") for a in accounts.body] == [
        a.account_no for a in customer.accounts
    ]
    months = core.monthly_summary(customer.accounts[0].account_no, "200001", "209912")
    assert len(months.body) == len(customer.accounts[0].monthly)
    stranger = next(p for p in sim_dataset.persons if p.id_number not in sim_dataset.customer_by_id)
    with pytest.raises(BusinessAnswer, match="CustomerNotFound"):
        core.customer(stranger.id_number)
    sim.controls({"core": {"GetAccounts": {"fault": "busy", "times": 1}}})
    assert core.accounts(customer.customer_no).body is not None  # busy, then retried


@pytest.mark.parametrize("mode", ["reset", "trickle"])
def test_after_sending_a_costly_call_is_in_doubt_and_never_resent(hostile, mode, evidence):
    hostile.mode = mode
    client = client_for(hostile, timeout=1.0)
    client.evidence = evidence
    start = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        ask(client)
    assert hostile.posts == 1  # one hard inquiry at most, whatever happened after
    assert time.monotonic() - start < 3.0  # the whole call is bounded, not each read
    kept = list((evidence.root / "masked" / "bureau").glob("*request.xml"))
    assert kept  # what left the hub is on file for whoever settles the doubt


def test_a_server_error_after_a_costly_call_is_in_doubt(hostile):
    hostile.answer = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body><soap:Fault><faultcode>soap:Server</faultcode>"
        b"<faultstring>oops</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    )
    with pytest.raises(OutcomeUnknown):
        ask(client_for(hostile))
    assert hostile.posts == 1


def test_an_answer_breaking_the_wsdl_schema_is_a_contract_failure(hostile):
    hostile.answer = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><QueryPersonalReportResponse xmlns="urn:creditbureau:report:v1">'
        b"<report><reportNo>R1</reportNo></report></QueryPersonalReportResponse>"
        b"</soap:Body></soap:Envelope>"
    )
    with pytest.raises(ContractError, match="schema"):
        ask(client_for(hostile))
