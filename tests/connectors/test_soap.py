"""The SOAP client against servers that misbehave: hostile XML, huge and hanging answers."""

import contextlib
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lxml import etree

from connectors import soap
from connectors.config import SoapConfig
from connectors.core import CoreConnector
from connectors.evidence import EvidenceStore
from connectors.soap import SoapClient
from kernel.failures import BusinessAnswer, ContractError, OutcomeUnknown, TransientError
from loanhub.platform.masking import mask_text
from tests.connectors.conftest import FAST_RETRY, soap_config

WSDL_PATH = Path(__file__).resolve().parents[2] / "contracts" / "wsdl" / "bureau.wsdl"
WSDL = WSDL_PATH.read_text()
VALID_BODY = (  # an answer the WSDL's schema accepts: only the XML defences can refuse it
    '<soap:Body><QueryPersonalReportResponse xmlns="urn:creditbureau:report:v1"><report>'
    "<reportNo>R1</reportNo><reportTime>2026.11.20 10:00:00</reportTime>"
    "<identity><name>{name}</name><idNumber>110105194912310029</idNumber></identity>"
    "</report></QueryPersonalReportResponse></soap:Body>"
)
ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">{}</soap:Envelope>'
)
# a harmless DTD (no entity at all) in front of a valid answer: only "DTD refused" stops it
HARMLESS_DTD = (
    '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE soap:Envelope [<!ELEMENT x ANY>]>'
    + ENVELOPE.format(VALID_BODY.format(name="n"))
).encode()
# the same in UTF-16: "<!DOCTYPE" is not in its bytes, only the parsed document shows it
HARMLESS_DTD_UTF16 = HARMLESS_DTD.decode().replace("UTF-8", "UTF-16").encode("utf-16")
# four levels of ten: 30 KB of "lol" if expanded. Sized under libxml2's own amplification
# limit (which, resolving or not, refuses the classic ten levels), so it cannot stand in for
# "entities not resolved": expanded, the name is 30 KB; kept as a reference, the answer ~1 KB
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 5))
    + "]>"
    + ENVELOPE.format(VALID_BODY.format(name="&l4;"))
).encode()
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    + ENVELOPE.format(VALID_BODY.format(name="&xxe;"))
).encode()
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
    gets: int = 0
    on_post: staticmethod = staticmethod(lambda: None)
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        type(self).gets += 1
        body = WSDL.replace(
            "http://127.0.0.1:0/bureau", f"http://127.0.0.1:{self.server.server_port}/bureau"
        ).encode()
        self._send(200, body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts += 1
        type(self).on_post()
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


def client_for(
    handler: type[Hostile], timeout: float = 5.0, evidence: EvidenceStore | None = None
) -> SoapClient:
    config = SoapConfig(
        url=handler.url,
        wsdl=handler.url + "?wsdl",
        username="u",
        password="p",
        operation_timeout=timeout,
        connect_timeout=1.0,
        retry=FAST_RETRY,
    )
    client = SoapClient(config, mask_text, evidence)
    client.system = "bureau"
    return client


def ask(client: SoapClient, idempotent: bool = False):
    return client.call(
        "QueryPersonalReport",
        idempotent=idempotent,
        requestRef="R1",
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


# Each XML defence alone. The answers below are valid for the WSDL's schema once parsed, so the
# schema check cannot stand in for a defence that is gone: remove one and its test turns red.


@pytest.mark.parametrize("answer", [HARMLESS_DTD, HARMLESS_DTD_UTF16], ids=["utf-8", "utf-16"])
def test_defence_1_a_dtd_is_refused_even_in_an_otherwise_valid_answer(hostile, answer):
    hostile.answer = answer
    with pytest.raises(ContractError, match="DTD"):
        ask(client_for(hostile))


def test_defence_2_entities_are_never_resolved():
    """Behind defence 1 (which refuses these first): the parser alone must not expand them."""
    tracemalloc.start()
    try:
        laughs = soap.parse_untrusted(BILLION_LAUGHS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
    name = laughs.find(".//{urn:creditbureau:report:v1}name")
    assert b"lol" not in etree.tostring(name)  # a reference, never 3 GB of "lol"
    assert len(etree.tostring(laughs)) < 2048
    xxe = soap.parse_untrusted(EXTERNAL_ENTITY)
    assert b"root:" not in etree.tostring(xxe)  # /etc/passwd was not read into the answer


def test_defence_3_nothing_external_is_loaded(tmp_path, hostile):
    """Behind defence 1: an external DTD, on disk or on the network, is never read."""
    evil = tmp_path / "evil.dtd"
    evil.write_text('<!ENTITY remote "FROM-DISK"><!ATTLIST soap:Envelope leak CDATA "x">')
    on_disk = (
        f'<?xml version="1.0"?><!DOCTYPE soap:Envelope SYSTEM "{evil.as_uri()}">'
        + ENVELOPE.format(VALID_BODY.format(name="&remote;"))
    ).encode()
    root = soap.parse_untrusted(on_disk)
    assert root.getroottree().docinfo.externalDTD is None
    assert b"FROM-DISK" not in etree.tostring(root)
    on_network = on_disk.replace(evil.as_uri().encode(), hostile.url.encode() + b"/evil.dtd")
    gets = Hostile.gets
    root = soap.parse_untrusted(on_network)
    assert root.getroottree().docinfo.externalDTD is None
    assert hostile.gets == gets  # nothing was fetched


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
        wsdl=str(WSDL_PATH),
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


# -- nothing is "sent" before bytes left for the peer ------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that nobody vouches for: the client must refuse it."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "peer.pem", directory / "peer.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextlib.contextmanager
def bad_tls_peer(kind: str, directory: Path) -> Iterator[tuple[str, list[bytes]]]:
    """An https URL whose peer is wrong: ``self-signed`` (a real TLS server the client must
    not trust) or ``plain`` (a TCP server answering garbage instead of a handshake). Yields the
    URL and what the peer received, so a test can see that no request reached it."""
    import socket
    import ssl

    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    context = None
    if kind == "self-signed":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self_signed(directory))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    if context is not None:
                        with context.wrap_socket(conn, server_side=True) as tls:
                            received.append(tls.recv(65536))  # only after a handshake
                    else:
                        received.append(conn.recv(65536))
                        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nthis is no TLS server\r\n")
                except (OSError, ssl.SSLError):
                    pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{port}/bureau", received
    finally:
        listener.close()


def local_wsdl_client(url: str, evidence=None) -> SoapClient:
    config = SoapConfig(
        url=url,
        wsdl=str(WSDL_PATH),
        username="u",
        password="p",
        connect_timeout=1.0,
        operation_timeout=2.0,
        retry=FAST_RETRY,
    )
    client = SoapClient(config, mask_text, evidence)
    client.system = "bureau"
    return client


@pytest.mark.parametrize("kind", ["self-signed", "plain"])
def test_a_bad_tls_peer_is_transient_never_in_doubt(tmp_path, kind):
    with (
        bad_tls_peer(kind, tmp_path) as (url, received),
        pytest.raises(TransientError, match="TLS handshake failed, nothing sent") as failed,
    ):
        ask(local_wsdl_client(url))
    assert not isinstance(failed.value, OutcomeUnknown)
    assert not any(b"POST" in r for r in received)  # no request ever reached the peer


def test_evidence_that_cannot_be_kept_before_sending_is_transient(hostile, tmp_path):
    """A real filesystem condition, not a mock: where the request's evidence goes is a file,
    so nothing can be written there (as root too, unlike a read-only directory)."""
    store = EvidenceStore(tmp_path / "evidence", mask_text)
    (store.root / "masked" / "bureau").write_text("in the way")
    with pytest.raises(TransientError, match="not sent: its evidence cannot be kept"):
        ask(client_for(hostile, evidence=store))
    assert hostile.posts == 0  # nothing left the hub


@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Path]:
    """A 64 KiB tmpfs, where mounting one is allowed (root in a container, say); else skip."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    with contextlib.suppress(OSError), (disk / "filler").open("ab") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()


def test_a_full_evidence_disk_before_sending_is_transient(hostile, tiny_disk):
    store = EvidenceStore(tiny_disk / "evidence", mask_text)
    fill(tiny_disk)  # ENOSPC from here on
    with pytest.raises(TransientError, match="not sent"):
        ask(client_for(hostile, evidence=store))
    assert hostile.posts == 0


def test_a_disk_full_after_the_answer_of_a_costly_call_is_in_doubt(hostile, tiny_disk):
    """Sent and answered, but the answer cannot be kept: the effect happened (an inquiry on
    file), so it is in doubt, to be read back; for a read it is simply transient."""
    store = EvidenceStore(tiny_disk / "evidence", mask_text)
    hostile.answer = ENVELOPE.format(VALID_BODY.format(name="n")).encode()
    hostile.on_post = lambda: fill(tiny_disk)  # the disk fills while the peer answers
    with pytest.raises(OutcomeUnknown, match="evidence cannot be kept"):
        ask(client_for(hostile, evidence=store))
    assert hostile.posts == 1
    with pytest.raises(TransientError, match="evidence cannot be kept"):
        ask(client_for(hostile, evidence=store), idempotent=True)
