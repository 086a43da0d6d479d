"""SOAP over HTTP with zeep: one client per WSDL per process, safe parsing, one place that
decides what a response means.

zeep builds the request from the WSDL and signs it (WS-Security UsernameToken, PasswordDigest);
a zeep plugin keeps the masked request as evidence before it is sent. The response is taken raw
(``raw_response``), read under a size cap and a whole-call deadline (held at the socket: every
read and write of an exchange waits only what is left of it, connect and headers included;
the WSDL and its schemas load under a deadline and a cap of their own; redirects are never
followed; a compressed answer is refused), parsed here with a
hardened lxml parser (no DTD, no entities, no network) and validated against the WSDL's own
schema. The raw bytes are the payload whose hash every fact carries; mapping them is the
mappings layer's job (lxml is ~30x faster than zeep's objects for large answers).

Sent or not sent is what decides a retry: only a failure before the request left (refused
connection, connect timeout, a TLS handshake that failed, evidence that could not be written)
or an explicit "busy" is retried for a call that costs something (a bureau inquiry); anything
after sending is ``OutcomeUnknown`` there, and transient only for reads. "Sent" is not guessed
from the exception's type: the connection itself records when the first byte of the request
was handed to the socket (``_WireAdapter``), so a TLS or connect failure can never pass for a
lost answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import ssl
import stat
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlparse

import requests
import urllib3
import urllib3.connection
import urllib3.exceptions
from lxml import etree
from zeep import Client, Plugin, Settings
from zeep.exceptions import Error as ZeepError
from zeep.proxy import ServiceProxy
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from connectors.config import Masker, SoapConfig
from connectors.evidence import EvidenceStore, EvidenceUnwritable
from kernel.calls import CallObserver, ignore_call, observed
from kernel.failures import (
    BusinessAnswer,
    ContractError,
    LegacyError,
    OutcomeUnknown,
    TransientError,
    with_retry,
)
from schemas.types import utcnow

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSD = "http://www.w3.org/2001/XMLSchema"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # SoapConfig.max_response_bytes' default
SAFE_SETTINGS = Settings(
    strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=True
)
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
)
_SECRETS = re.compile(r"(<(?:\w+:)?(?:Password|Nonce)\b[^>]*>)[^<]*(</)")
log = logging.getLogger(__name__)


def blank_secrets(text: str) -> str:
    """WS-Security's password digest and nonce never reach a log or an evidence file."""
    return _SECRETS.sub(r"\1***\2", text)


class NotSent(Exception):
    """The request never left: connection refused, not established in time, TLS refused."""


class SentNoAnswer(Exception):
    """The request left and no complete answer came back (timeout, reset, stalled body)."""


@dataclass(frozen=True)
class SoapAnswer:
    """One successful call: the body element and the raw response it came from."""

    operation: str
    body: etree._Element
    raw: bytes
    sha256: str
    fetched_at: datetime


class _Wire(threading.local):
    """Per thread: has the request being made handed a byte to the socket yet, and by when
    (``time.monotonic()``) must the exchange under way be over (None: no exchange)?"""

    sent: bool = False
    deadline: float | None = None


_wire = _Wire()


def _bound(sock: socket.socket) -> None:
    """Before each read or write of an exchange: the socket may wait only what is left of the
    exchange's deadline. A per-read timeout alone lets a peer that trickles one header line a
    second hold a call forever; this makes connect, headers and body one budget."""
    deadline = _wire.deadline
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the exchange's deadline has passed")
    sock.settimeout(left)


class _HeldToDeadline:
    """Every read and write of the socket it is mixed into held to the exchange's deadline
    (a TLS socket's reads go through ``recv_into`` as well)."""

    __slots__ = ()

    def recv(self, *args: Any) -> bytes:
        _bound(self)
        return super().recv(*args)  # type: ignore[misc]

    def recv_into(self, *args: Any) -> int:
        _bound(self)
        return super().recv_into(*args)  # type: ignore[misc]

    def send(self, *args: Any) -> int:
        _bound(self)
        return super().send(*args)  # type: ignore[misc]

    def sendall(self, *args: Any) -> None:
        _bound(self)
        super().sendall(*args)  # type: ignore[misc]


class _DeadlineSocket(_HeldToDeadline, socket.socket):
    """A plain socket held to the deadline."""

    __slots__ = ()


class _DeadlineSSLSocket(_HeldToDeadline, ssl.SSLSocket):
    """A TLS socket held to the deadline."""


@contextlib.contextmanager
def _exchange(seconds: float) -> Iterator[float]:
    """One deadline, ``seconds`` from now, for every socket operation of this thread inside."""
    deadline = time.monotonic() + seconds
    outer, _wire.deadline = _wire.deadline, deadline
    try:
        yield deadline
    finally:
        _wire.deadline = outer


class _MarksSending:
    """Mixed into urllib3's connections: connect first (a refused or TLS-failed connection
    never counts), then mark the request as sent before its first byte goes out (a failure
    in the middle of sending may have delivered it: in doubt, never "not sent")."""

    sock: Any
    timeout: Any

    def connect(self) -> None:
        """Connect (and shake hands) within what is left of the deadline, then hold every
        later read and write of this connection to the deadline of the exchange using it."""
        base = self.__dict__.setdefault("_base_timeout", self.timeout)
        if _wire.deadline is not None and isinstance(base, int | float):
            self.timeout = max(0.001, min(base, _wire.deadline - time.monotonic()))
        try:
            super().connect()  # type: ignore[misc]
        finally:
            self.timeout = base
        if type(self.sock) is socket.socket:
            self.sock.__class__ = _DeadlineSocket
        elif type(self.sock) is ssl.SSLSocket:
            self.sock.__class__ = _DeadlineSSLSocket

    def send(self, data: Any) -> None:
        if self.sock is None:  # http.client connects lazily on the first send
            self.connect()  # type: ignore[attr-defined]
        _wire.sent = True
        super().send(data)  # type: ignore[misc]


class _HTTPConnection(_MarksSending, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_MarksSending, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _WireAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with connections that record when a request starts to leave."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _before_sending(exc: BaseException) -> str:
    """What went wrong before a byte of the request left, in words for the work item."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    if isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "connection refused"
    return "connection failed before sending"


def _timed_out(exc: BaseException) -> bool:
    return isinstance(
        exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError | socket.timeout
    )


def read_capped(response: requests.Response, cap: int, what: str) -> bytes:
    """The body of a streamed ``response``, as it arrives, refused past ``cap`` bytes (before
    reading, when the peer says so itself) and refused compressed: the hub asks for
    ``identity``, so a gzip body is a peer ignoring us, and inflating it is how a bomb works."""
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > cap:
        raise ContractError(f"{what} larger than {cap} bytes (Content-Length {declared}): refused")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ContractError(f"{what} compressed ({encoding[:20]}), identity was asked: refused")
    body = bytearray()
    while chunk := response.raw.read1(64 * 1024):  # as it arrives, 64 KiB at most
        body += chunk
        if len(body) > cap:
            raise ContractError(f"{what} larger than {cap} bytes: refused")
    return bytes(body)


def _read_file_capped(path: str, cap: int) -> bytes:
    """A WSDL or schema on disk, under the same cap as one fetched; a regular file only (a
    FIFO or a device named by a schemaLocation would block or never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO's open must not wait either
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ContractError(f"{path} is not a regular file: refused")
        content = f.read(cap + 1)
    if len(content) > cap:
        raise ContractError(f"{path} larger than {cap} bytes: refused")
    return content


class _CappedTransport(Transport):
    """Every exchange under one deadline (connect, headers, body) and a size cap, redirects
    never followed, and a failure said to be before or after the request was sent.

    zeep loads the WSDL and the schemas it imports through ``load``: each under
    ``max_wsdl_bytes``, all of them under the deadline ``prepare`` sets, each URL fetched once
    (the answer schema reuses the WSDL zeep read)."""

    def __init__(
        self,
        *args: Any,
        deadline_seconds: float,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_document_bytes: int = 4 * 1024 * 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadline_seconds = deadline_seconds
        self.max_response_bytes = max_response_bytes
        self.max_document_bytes = max_document_bytes
        self.loaded: dict[str, bytes] = {}
        self.remote_origin = False  # set while preparing a WSDL fetched over the network
        self.forbid_network = True  # only the WSDL itself comes over the network
        self.session.headers["Accept-Encoding"] = "identity"

    def load(self, url: str) -> bytes:
        """A WSDL or schema document, capped, fetched at most once while preparing."""
        if not url:
            raise ValueError("No url given to load")
        if url not in self.loaded:
            parsed = urlparse(url)
            if parsed.scheme in ("http", "https"):
                if self.loaded and self.forbid_network:
                    raise ContractError(f"schema imported over the network refused: {url}")
                self.loaded[url] = self._fetch_document(url)
            elif self.remote_origin:  # a WSDL from the network never makes us read our disk
                raise ContractError(f"a remote WSDL may not load a local document: {url}")
            elif parsed.scheme == "file":
                path = urllib.request.url2pathname(parsed.path)
                self.loaded[url] = _read_file_capped(path, self.max_document_bytes)
            else:
                path = os.path.expanduser(url)
                self.loaded[url] = _read_file_capped(path, self.max_document_bytes)
        return self.loaded[url]

    def _fetch_document(self, url: str) -> bytes:
        try:
            response = self.session.get(
                url, timeout=self.operation_timeout, stream=True, allow_redirects=False
            )
            try:
                status = response.status_code
                if 300 <= status < 400:
                    raise ContractError(
                        f"{url} answered HTTP {status}, a redirect to "
                        f"{response.headers.get('Location', '?')[:200]}: refused, never followed"
                    )
                if status != 200:
                    failure = TransientError if status in (502, 503, 504) else ContractError
                    raise failure(f"{url} answered HTTP {status}")
                return read_capped(response, self.max_document_bytes, url)
            finally:
                response.close()
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if _timed_out(exc):
                raise TransientError(f"{url} not loaded within the deadline") from exc
            raise TransientError(f"{url} not loaded: {exc}") from exc

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        if self.logger.isEnabledFor(logging.DEBUG):  # as zeep's own transport logs it
            self.logger.debug("HTTP Post to %s:\n%s", address, message.decode("utf-8", "replace"))
        seconds = self.deadline_seconds
        _wire.sent = False
        with _exchange(seconds):
            try:
                response = self.session.post(
                    address,
                    data=message,
                    headers=headers,
                    timeout=self.operation_timeout,
                    stream=True,
                    allow_redirects=False,  # a 307 would re-send the inquiry elsewhere
                )
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if not _wire.sent:
                    raise NotSent(f"{_before_sending(exc)}, nothing sent: {exc}") from exc
                if _timed_out(exc):
                    raise SentNoAnswer(f"no answer within {seconds}s: {exc}") from exc
                raise SentNoAnswer(f"connection lost after sending: {exc}") from exc
            try:
                body = read_capped(response, self.max_response_bytes, "response")
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if _timed_out(exc):
                    raise SentNoAnswer(f"no complete answer within {seconds}s") from exc
                raise SentNoAnswer(f"answer broken off: {exc}") from exc
            finally:
                response.close()
        response._content = body
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "HTTP Response from %s (status: %d):\n%s",
                address,
                response.status_code,
                response.content.decode("utf-8", "replace"),
            )
        return response


class _MaskingLogFilter(logging.Filter):
    """zeep logs whole envelopes at DEBUG: mask personal data and blank WS-Security secrets."""

    def __init__(self, mask: Masker) -> None:
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        message = blank_secrets(record.getMessage())
        record.msg, record.args = self.mask(message), None
        return True


class EvidencePlugin(Plugin):
    """Keeps the masked request as evidence before it is sent: an in-doubt call has a record
    of what left the hub even when no answer ever came back."""

    def __init__(self) -> None:
        self.store: EvidenceStore | None = None
        self.system = "soap"

    def egress(
        self,
        envelope: etree._Element,
        http_headers: dict[str, str],
        operation: Any,
        binding_options: dict[str, Any],
    ) -> tuple[etree._Element, dict[str, str]]:
        if self.store is not None:
            text = etree.tostring(envelope, encoding="unicode")
            self.store.put_masked(self.system, f"{operation.name}.request.xml", blank_secrets(text))
        return envelope, http_headers


@dataclass
class _Prepared:
    client: Client
    service: ServiceProxy
    schema: etree.XMLSchema
    plugin: EvidencePlugin


_prepared: dict[tuple[Any, ...], _Prepared] = {}
_prepared_lock = threading.Lock()
_preparing: dict[tuple[Any, ...], threading.Lock] = {}


class _CappedResolver(etree.Resolver):
    """Schemas the answer schema imports, read through the capped transport (never by
    libxml2 itself, which would read any size from anywhere)."""

    def __init__(self, transport: _CappedTransport) -> None:
        super().__init__()
        self.transport = transport

    def resolve(self, url: str, pubid: str, context: Any) -> Any:
        return self.resolve_string(self.transport.load(url), context)


def _answer_schema(transport: _CappedTransport, config: SoapConfig) -> etree.XMLSchema:
    """The schema embedded in the WSDL, to validate answers with libxml2 (fast) not zeep."""
    wsdl = etree.fromstring(transport.load(config.wsdl), _PARSER)
    schema = wsdl.find(f".//{{{XSD}}}schema")
    if schema is None:
        raise ContractError(f"{config.wsdl} has no embedded schema")
    # QName values like "tns:Identity" use prefixes declared on the WSDL's root: carry them.
    standalone = etree.Element(
        schema.tag, attrib=dict(schema.attrib), nsmap={**wsdl.nsmap, **schema.nsmap}
    )
    standalone.extend(child for child in list(schema))
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    parser.resolvers.add(_CappedResolver(transport))
    base = config.wsdl if "://" in config.wsdl else os.path.abspath(config.wsdl)
    document = etree.fromstring(etree.tostring(standalone), parser, base_url=base)
    return etree.XMLSchema(document)


def _build(config: SoapConfig) -> _Prepared:
    """The zeep client and the answer schema, every document they load capped and all of
    them within one deadline: a WSDL trickled byte by byte fails in bounded time, a 100 MB
    one at the cap, each with one line saying which."""
    session = requests.Session()
    session.mount("http://", _WireAdapter(pool_maxsize=16))
    session.mount("https://", _WireAdapter(pool_maxsize=16))
    transport = _CappedTransport(
        session=session,
        timeout=config.connect_timeout,
        operation_timeout=(config.connect_timeout, config.operation_timeout),
        deadline_seconds=config.operation_timeout,
        max_response_bytes=config.max_response_bytes,
        max_document_bytes=config.max_wsdl_bytes,
    )
    plugin = EvidencePlugin()
    seconds = config.wsdl_deadline
    transport.remote_origin = urlparse(config.wsdl).scheme in ("http", "https")
    transport.operation_timeout = (config.connect_timeout, seconds)
    try:
        with _exchange(seconds):
            client = Client(
                config.wsdl,
                transport=transport,
                settings=SAFE_SETTINGS,
                wsse=UsernameToken(
                    config.username, config.password.get_secret_value(), use_digest=True
                ),
                plugins=[plugin],
            )
            schema = _answer_schema(transport, config)
    except LegacyError as exc:
        said = str(exc)
        exc.args = (
            f"WSDL not loaded: {said}"
            if config.wsdl in said
            else f"WSDL {config.wsdl} not loaded: {said}",
        )
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if _timed_out(exc):
            raise TransientError(f"WSDL {config.wsdl} not loaded within {seconds}s") from exc
        raise TransientError(f"cannot load WSDL {config.wsdl}: {exc}") from exc
    except (ZeepError, etree.LxmlError, ValueError) as exc:
        error = " ".join(str(exc).split())[:200]
        raise ContractError(f"WSDL {config.wsdl} refused: {type(exc).__name__}: {error}") from exc
    finally:
        transport.operation_timeout = (config.connect_timeout, config.operation_timeout)
        transport.loaded.clear()
    binding = next(iter(next(iter(client.wsdl.services.values())).ports.values())).binding
    service = client.create_service(binding.name, config.url)
    return _Prepared(client, service, schema, plugin)


def prepare(config: SoapConfig) -> _Prepared:
    """The process's zeep ``Client`` for this WSDL and user, built once (WSDL parsing is slow),
    bound to the configured address (not the WSDL's ``soap:address``). One lock per WSDL and
    user: a slow WSDL holds back only the clients that need it."""
    secret = hashlib.sha256(config.password.get_secret_value().encode()).hexdigest()
    key = (
        os.getpid(),
        config.wsdl,
        config.url,
        config.username,
        secret,
        config.connect_timeout,
        config.operation_timeout,
        config.wsdl_deadline,
        config.max_wsdl_bytes,
        config.max_response_bytes,
    )
    with _prepared_lock:
        if key in _prepared:
            return _prepared[key]
        lock = _preparing.setdefault(key, threading.Lock())
    with lock:
        if key not in _prepared:
            built = _build(config)
            with _prepared_lock:
                _prepared[key] = built
        return _prepared[key]


def refuse_dtd(raw: bytes, root: etree._Element | None = None) -> None:
    """Defence 1 of 3, DTD refused: a SOAP answer never needs a DTD, and every entity trick
    needs one. Checked on the bytes before the parser sees them (cheap, and nothing of a DTD is
    read at all) and, given the parsed ``root``, on the document itself (an answer in UTF-16
    or another encoding hides ``<!DOCTYPE`` from a byte search)."""
    if root is None:
        if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
            raise ContractError("response carries a DTD or entity declarations: refused")
    elif root.getroottree().docinfo.doctype or root.getroottree().docinfo.internalDTD:
        raise ContractError("response carries a DTD: refused")


def parse_untrusted(raw: bytes) -> etree._Element:
    """The hardened parse, behind ``refuse_dtd`` (and tested without it): defence 2, entities
    are never resolved (``resolve_entities=False``: no expansion, no file read through an
    external entity); defence 3, nothing external is loaded (``load_dtd=False``: no external
    DTD subset or parameter entity is read; ``no_network=True``: nothing is fetched, should the
    libxml2 underneath ever ship a network client again)."""
    try:
        return etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ContractError(f"response is not well-formed XML: {exc}") from exc


def parse_envelope(raw: bytes) -> etree._Element:
    """The envelope, or ``ContractError`` for anything that is not plain, DTD-free XML."""
    refuse_dtd(raw)
    root = parse_untrusted(raw)
    refuse_dtd(raw, root)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ContractError(f"response is not a SOAP 1.1 envelope ({root.tag})")
    return root


class SoapClient:
    """One legacy SOAP service. Subclasses override ``classify_fault`` and ``check_answer``."""

    system: ClassVar[str] = "soap"

    def __init__(
        self,
        config: SoapConfig,
        mask: Masker,
        evidence: EvidenceStore | None = None,
        *,
        observer: CallObserver = ignore_call,
    ) -> None:
        self.config = config
        self.mask = mask
        self.evidence = evidence
        self.observer = observer
        self._prepared: _Prepared | None = None  # the WSDL is fetched at the first call
        for name in ("zeep.transports", "zeep.wsdl.bindings.soap", "zeep.xsd"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _MaskingLogFilter) for f in logger.filters):
                logger.addFilter(_MaskingLogFilter(mask))

    @property
    def prepared(self) -> _Prepared:
        if self._prepared is None:
            self._prepared = prepare(self.config)
        return self._prepared

    # -- the one place that decides ------------------------------------------------------------

    def classify_fault(self, code: str, message: str, idempotent: bool) -> LegacyError:
        """What a SOAP fault means. ``code`` is the faultcode without its prefix."""
        if code.startswith("Server.Busy"):  # refused before doing anything: safe to retry
            return TransientError(f"{code}: {message}", system=self.system, code=code)
        if code == "Server" or code.startswith("Server."):
            if idempotent:
                return TransientError(f"{code}: {message}", system=self.system, code=code)
            return OutcomeUnknown(
                f"{code}: {message} (the request may have been recorded)",
                system=self.system,
                code=code,
            )
        if code.endswith("NotFound"):
            return BusinessAnswer(f"{code}: {message}", system=self.system, code=code)
        return ContractError(f"{code}: {message}", system=self.system, code=code)

    def check_answer(self, operation: str, body: etree._Element) -> None:
        """Raise for an error a legacy system hides in a valid 200 answer. Default: none."""

    def classify_response(
        self, operation: str, response: requests.Response, idempotent: bool
    ) -> etree._Element:
        """The answer's body element, or the ``LegacyError`` it amounts to."""
        status = response.status_code
        if status == 503 or (status in (502, 504) and idempotent):
            raise TransientError(f"HTTP {status}", system=self.system)
        if status in (502, 504):
            raise OutcomeUnknown(f"HTTP {status} after the request was sent", system=self.system)
        if 300 <= status < 400:
            where = response.headers.get("Location", "?")[:200]
            raise ContractError(
                f"HTTP {status} redirect to {where} refused: a request goes to the configured "
                "address only and is never re-sent elsewhere",
                system=self.system,
            )
        if status not in (200, 500):
            raise ContractError(f"HTTP {status}", system=self.system)
        envelope = parse_envelope(response.content)
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        first = None if body is None else next(iter(body), None)
        if first is None:
            raise ContractError("empty SOAP body", system=self.system)
        if first.tag == f"{{{SOAP_ENV}}}Fault":  # in a 500, or hidden in a 200
            code = (first.findtext("faultcode") or "").split(":", 1)[-1]
            text = self.mask(first.findtext("faultstring") or "")  # a peer's text: masked
            raise self.classify_fault(code, text, idempotent)
        if status != 200:
            raise ContractError("HTTP 500 without a SOAP fault", system=self.system)
        schema = self.prepared.schema
        if not schema.validate(etree.ElementTree(parse_untrusted(etree.tostring(first)))):
            raise ContractError(
                f"{operation} answer breaks the WSDL's schema: {schema.error_log.last_error}",
                system=self.system,
            )
        self.check_answer(operation, first)
        return first

    # -- calling -------------------------------------------------------------------------------

    def call(self, operation: str, *, idempotent: bool, **params: Any) -> SoapAnswer:
        """Call with retries of transient failures (bounded); other failures propagate."""
        return with_retry(
            lambda: self._observed_call(operation, idempotent, params),
            self.config.retry,
            what=f"{self.system}.{operation}",
            mask=self.mask,
        )

    def _observed_call(
        self, operation: str, idempotent: bool, params: dict[str, Any]
    ) -> SoapAnswer:
        """One attempt, reported to the observer: each retry is a call the system served."""
        with observed(self.observer, self.system, operation):
            try:
                return self._call_once(operation, idempotent, params)
            except LegacyError as exc:
                # a peer's words (a fault, a schema error quoting a value) reach logs, the
                # call journal and the work item: masked here, whoever logs them
                if exc.args and isinstance(exc.args[0], str):
                    exc.args = (self.mask(exc.args[0]), *exc.args[1:])
                raise

    def _call_once(self, operation: str, idempotent: bool, params: dict[str, Any]) -> SoapAnswer:
        prepared = self.prepared
        prepared.plugin.store, prepared.plugin.system = self.evidence, self.system
        try:
            with prepared.client.settings(raw_response=True):
                response = getattr(prepared.service, operation)(**params)
        except NotSent as exc:
            raise TransientError(str(exc), system=self.system) from exc
        except EvidenceUnwritable as exc:  # the request's record, kept before it is sent
            raise TransientError(
                f"{operation} not sent: its evidence cannot be kept ({exc})", system=self.system
            ) from exc
        except SentNoAnswer as exc:
            if idempotent:
                raise TransientError(str(exc), system=self.system) from exc
            raise OutcomeUnknown(str(exc), system=self.system) from exc
        except ZeepError as exc:  # the request could not even be built: our contract is off
            raise ContractError(f"request refused by the WSDL: {exc}", system=self.system) from exc
        fetched_at = utcnow()
        try:
            body = self.classify_response(operation, response, idempotent)
        except Exception:
            try:
                self._keep_response(operation, response)
            except EvidenceUnwritable as exc:  # what the peer said still decides
                log.warning("%s %s: answer's evidence not kept: %s", self.system, operation, exc)
            raise
        try:
            self._keep_response(operation, response)
            digest = (
                self.evidence.put_raw(response.content)
                if self.evidence
                else hashlib.sha256(response.content).hexdigest()
            )
        except EvidenceUnwritable as exc:
            # sent and answered, but the answer cannot be kept: for a costly call the effect
            # happened and its answer waits at the peer (to be read back), so it is in doubt
            message = f"{operation} answered, but its evidence cannot be kept ({exc})"
            if idempotent:
                raise TransientError(message, system=self.system) from exc
            raise OutcomeUnknown(message, system=self.system) from exc
        return SoapAnswer(operation, body, response.content, digest, fetched_at)

    def _keep_response(self, operation: str, response: requests.Response) -> None:
        """The masked answer, for people to read when something fails."""
        if self.evidence is not None:
            answer = response.content[:1_000_000].decode("utf-8", "replace")
            self.evidence.put_masked(
                self.system, f"{operation}.response.txt", f"HTTP {response.status_code}\n{answer}"
            )
