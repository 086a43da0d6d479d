"""Hard limits on every SOAP exchange, each tried against a hostile peer of our own
(``tests/connectors/hostile.py``): one deadline over connect, headers and body and over the
WSDL and schema loads, a size cap on what is loaded, redirects refused and never re-sent,
TLS failures counted as not sent, the retry's own log line masked."""

from __future__ import annotations

import logging
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connectors.config import SoapConfig
from connectors.soap import SoapClient
from kernel.failures import ContractError, OutcomeUnknown, TransientError, with_retry
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.hub import WorkItemState
from tests.connectors import hostile
from tests.connectors.conftest import FAST_RETRY

ID_NUMBER = "110105194912310029"
MOBILE = "13812345678"


def client(url: str, *, timeout: float = 1.0, wsdl: str | None = None, **over) -> SoapClient:
    config = SoapConfig(
        url=url,
        wsdl=wsdl or url + "?wsdl",
        username="u",
        password="p",
        operation_timeout=timeout,
        connect_timeout=1.0,
        retry=FAST_RETRY,
        **over,
    )
    made = SoapClient(config, mask_text)
    made.system = "bureau"
    return made


def ask(soap: SoapClient, idempotent: bool = False):
    return soap.call(
        "QueryPersonalReport",
        idempotent=idempotent,
        requestRef="R1",
        idNumber=ID_NUMBER,
        name="n",
        queryReason="01",
        consentRef="c",
        operatorId="o",
    )


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    assert len(text) < 400, text
    return text


# -- (1) headers trickled one line a second ----------------------------------------------------


def test_trickled_headers_end_at_the_deadline_in_doubt():
    with hostile.peer(hostile.serves_wsdl(hostile.trickle_headers(interval=0.3))) as peer:
        soap = client(peer.url, timeout=1.0)
        assert soap.prepared  # the WSDL first, so the clock below times the call alone
        start = time.monotonic()
        with pytest.raises(OutcomeUnknown) as failed:
            ask(soap)
        assert time.monotonic() - start < 1.6
        assert "within 1.0s" in one_line(failed.value)
        assert len(peer.posts()) == 1  # sent once, never again


def test_trickled_headers_of_a_read_are_transient_and_bounded():
    with hostile.peer(hostile.serves_wsdl(hostile.trickle_headers(interval=0.3))) as peer:
        soap = client(peer.url, timeout=0.5)
        assert soap.prepared
        start = time.monotonic()
        with pytest.raises(TransientError):
            ask(soap, idempotent=True)
        assert time.monotonic() - start < 3 * 0.5 + 1.0  # three attempts, each bounded
        assert len(peer.posts()) == 3


def test_trickled_headers_put_the_bureau_item_in_doubt_not_in_progress(pg_engine: Engine):
    """The ledger's path for "sent, no answer": the item is IN_DOUBT (to be read back), not
    left IN_PROGRESS until its lease runs out."""
    ledger = WorkItemLedger(pg_engine, owner="w1")
    with hostile.peer(hostile.serves_wsdl(hostile.trickle_headers(interval=0.3))) as peer:
        soap = client(peer.url, timeout=1.0)
        assert soap.prepared
        start = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            LedgerGuard(ledger).once("bureau_query", "APP1:01", {}, lambda: {"r": ask(soap).sha256})
    assert time.monotonic() - start < 1.6  # at the deadline, not when the peer gives up
    item = ledger.get("bureau_query", "APP1:01")
    assert item is not None
    assert item.state is WorkItemState.IN_DOUBT


@pytest.mark.parametrize(
    "behaviour",
    [
        hostile.chunked_forever(interval=0.1),
        hostile.lying_length(10_000, b"<soap:Envelope"),
    ],
    ids=["chunked-never-ends", "content-length-lies"],
)
def test_a_body_that_never_completes_ends_at_the_deadline(behaviour):
    with hostile.peer(hostile.serves_wsdl(behaviour)) as peer:
        soap = client(peer.url, timeout=1.0)
        assert soap.prepared
        start = time.monotonic()
        with pytest.raises(OutcomeUnknown) as failed:
            ask(soap)
        assert time.monotonic() - start < 1.6
        one_line(failed.value)
        assert len(peer.posts()) == 1


def test_a_huge_header_is_refused_in_one_line():
    with hostile.peer(hostile.serves_wsdl(hostile.huge_header())) as peer:
        with pytest.raises(OutcomeUnknown) as failed:
            ask(client(peer.url))
        one_line(failed.value)
        assert len(peer.posts()) == 1


def test_a_declared_length_over_the_cap_is_refused_before_reading():
    declared = 10 * 1024**3
    with (
        hostile.peer(hostile.serves_wsdl(hostile.lying_length(declared, b"x"))) as peer,
        pytest.raises(ContractError, match="larger than"),
    ):
        ask(client(peer.url))


def test_a_gzip_bomb_is_never_inflated():
    with hostile.peer(hostile.serves_wsdl(hostile.gzip_bomb(megabytes=200))) as peer:
        soap = client(peer.url, timeout=5.0)
        assert soap.prepared
        tracemalloc.start()
        try:
            with pytest.raises(ContractError) as failed:
                ask(soap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 48 * 1024 * 1024
        assert "gzip" in one_line(failed.value)
        assert peer.posts()[0].headers.get("accept-encoding") == "identity"


# -- (2) a slow WSDL, (3) a huge WSDL or schema ------------------------------------------------


def test_a_trickled_wsdl_is_bounded_by_the_deadline():
    with hostile.peer(hostile.trickle_wsdl(interval=0.2, chunk=64)) as peer:
        soap = client(peer.url, timeout=1.0)
        start = time.monotonic()
        with pytest.raises(TransientError, match="WSDL") as failed:
            ask(soap)
        assert time.monotonic() - start < 3 * 1.0 + 1.0  # each attempt within the deadline
        one_line(failed.value)
        assert not peer.posts()


@pytest.mark.parametrize("declare", [True, False], ids=["declared", "streamed"])
def test_a_100mb_wsdl_is_refused_at_the_cap(declare):
    with hostile.peer(hostile.huge_wsdl(100, declare=declare)) as peer:
        soap = client(peer.url, timeout=10.0)
        tracemalloc.start()
        start = time.monotonic()
        try:
            with pytest.raises(ContractError, match="larger than") as failed:
                ask(soap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert time.monotonic() - start < 5.0
        assert peak < 32 * 1024 * 1024
        one_line(failed.value)
        assert len([r for r in peer.journal if r.method == "GET"]) == 1  # never retried


def test_a_huge_schema_the_wsdl_imports_is_refused_at_the_cap(tmp_path: Path):
    """A WSDL on disk importing a schema beside it: the schema is loaded under the cap too."""
    big = tmp_path / "big.xsd"
    with big.open("wb") as f:
        f.write(b'<?xml version="1.0"?><!--')
        f.truncate(100 * 1024 * 1024)
    wsdl = hostile.WSDL_PATH.read_text().replace(
        'elementFormDefault="qualified">',
        'elementFormDefault="qualified"><xs:import namespace="urn:big" schemaLocation="big.xsd"/>',
        1,
    )
    (tmp_path / "bureau.wsdl").write_text(wsdl)
    with hostile.peer(hostile.answer(200, b"")) as peer:
        soap = client(peer.url, wsdl=str(tmp_path / "bureau.wsdl"))
        tracemalloc.start()
        try:
            with pytest.raises(ContractError, match="larger than") as failed:
                ask(soap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 32 * 1024 * 1024
        one_line(failed.value)


def test_a_schema_imported_from_the_network_is_refused_in_one_line():
    def behaviour(conn, request, server):
        wsdl = hostile.wsdl_for(server).replace(
            b'elementFormDefault="qualified">',
            b'elementFormDefault="qualified"><xs:import namespace="urn:x" schemaLocation="'
            + server.url.encode()
            + b'/x.xsd"/>',
            1,
        )
        conn.sendall(hostile.response(200, wsdl))

    with hostile.peer(behaviour) as peer:
        with pytest.raises(ContractError) as failed:
            ask(client(peer.url))
        one_line(failed.value)
        assert [r.path for r in peer.journal] == ["/bureau?wsdl"]


def test_a_remote_wsdl_cannot_make_the_hub_read_its_own_disk():
    def behaviour(conn, request, server):
        wsdl = hostile.wsdl_for(server).replace(
            b'elementFormDefault="qualified">',
            b'elementFormDefault="qualified">'
            b'<xs:import namespace="urn:x" schemaLocation="file:///etc/hostname"/>',
            1,
        )
        conn.sendall(hostile.response(200, wsdl))

    with hostile.peer(behaviour) as peer, pytest.raises(ContractError, match="local") as failed:
        ask(client(peer.url))
    one_line(failed.value)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("target", ["fifo", "/dev/zero"])
def test_a_schema_location_that_is_no_regular_file_is_refused(tmp_path: Path, target):
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)  # opened for reading, it would wait for a writer forever
    wsdl = hostile.WSDL_PATH.read_text().replace(
        'elementFormDefault="qualified">',
        f'elementFormDefault="qualified"><xs:import namespace="urn:x" schemaLocation="{target}"/>',
        1,
    )
    (tmp_path / "bureau.wsdl").write_text(wsdl)
    with pytest.raises(ContractError, match="not a regular file"):
        ask(client("http://127.0.0.1:9/x", wsdl=str(tmp_path / "bureau.wsdl")))


# -- (4) redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_never_followed(status):
    with hostile.peer(hostile.serves_wsdl(hostile.answer(200, b""))) as elsewhere:
        with hostile.peer(hostile.serves_wsdl(hostile.redirect(status, elsewhere.url))) as peer:
            with pytest.raises(ContractError, match=f"redirect.*{status}|{status}.*redirect"):
                ask(client(peer.url))
            assert len(peer.posts()) == 1
        assert elsewhere.journal == []  # the ID, name and token never reached it


@pytest.mark.parametrize("status", [301, 307])
def test_a_redirected_wsdl_is_refused(status):
    with hostile.peer(hostile.serves_wsdl(hostile.answer(200, b""))) as elsewhere:
        with (
            hostile.peer(hostile.redirect(status, elsewhere.url + "?wsdl")) as peer,
            pytest.raises(ContractError, match="redirect"),
        ):
            ask(client(peer.url))
        assert elsewhere.journal == []


# -- (5) TLS -----------------------------------------------------------------------------------


def test_a_tls_peer_hanging_up_mid_handshake_is_not_sent():
    wsdl = str(hostile.WSDL_PATH)
    with hostile.tls_hangup() as (url, received):
        with pytest.raises(TransientError, match="nothing sent") as failed:
            ask(client(url, wsdl=wsdl))
        assert not isinstance(failed.value, OutcomeUnknown)
        assert received  # it was reached, and hung up
        assert not any(b"POST" in r for r in received)


# -- (6) the retry's own log line --------------------------------------------------------------


@pytest.fixture
def no_log_masking() -> Iterator[None]:
    """A process without ``install_log_masking``: the plain record factory, whatever an
    earlier test installed."""
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


def test_a_fault_with_personal_data_is_masked_in_the_retry_warning(no_log_masking, caplog):
    text = f"backend down for {ID_NUMBER}, call {MOBILE}"
    behaviour = hostile.serves_wsdl(hostile.answer(500, hostile.fault("Server", text)))
    with (
        hostile.peer(behaviour) as p,
        caplog.at_level(logging.WARNING),
        pytest.raises(TransientError) as failed,
    ):
        ask(client(p.url), idempotent=True)
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    for line in [*retries, str(failed.value)]:
        assert ID_NUMBER not in line, line
        assert MOBILE not in line, line
        assert "backend down" in line


def test_the_retry_line_is_masked_by_with_retry_itself(no_log_masking, caplog):
    """Any connector handing its masker to ``with_retry`` gets a masked warning line, even
    for a failure it raised with a peer's words unmasked."""
    failures = iter([TransientError(f"busy for {ID_NUMBER} / {MOBILE}")])

    def attempt() -> str:
        for failure in failures:
            raise failure
        return "ok"

    with caplog.at_level(logging.WARNING):
        assert with_retry(attempt, FAST_RETRY, what="x", sleep=lambda _: None, mask=mask_text)
    (line,) = [r.getMessage() for r in caplog.records]
    assert ID_NUMBER not in line
    assert MOBILE not in line
