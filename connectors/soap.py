"""SOAP over HTTP with zeep: one client per WSDL per process, safe parsing, one place that
decides what a response means.

zeep builds the request from the WSDL and signs it (WS-Security UsernameToken, PasswordDigest);
the response is taken raw (``raw_response``) and parsed here with a hardened lxml parser: no
DTD, no entities, no network, a size cap. The raw bytes are the payload whose hash every fact
carries; mapping them is the mappings layer's job (lxml is ~30x faster than zeep's objects).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import requests
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import Error as ZeepError
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from connectors.config import Masker, SoapConfig
from connectors.errors import (
    BusinessAnswer,
    ConnectorError,
    ContractError,
    OutcomeUnknown,
    TransientError,
)
from connectors.evidence import EvidenceStore
from connectors.retry import with_retry
from schemas.types import utcnow

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
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


@dataclass(frozen=True)
class SoapAnswer:
    """One successful call: the body element and the raw response it came from."""

    operation: str
    body: etree._Element
    raw: bytes
    sha256: str
    fetched_at: datetime


class _CappedTransport(Transport):
    """Streams the response and stops at ``MAX_RESPONSE_BYTES``: memory stays bounded whatever
    the server sends."""

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        if self.logger.isEnabledFor(logging.DEBUG):  # as zeep's own transport logs it
            self.logger.debug("HTTP Post to %s:\n%s", address, message.decode("utf-8", "replace"))
        response = self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout, stream=True
        )
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                response.close()
                raise ContractError(f"response larger than {MAX_RESPONSE_BYTES} bytes")
        response._content = bytes(body)
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


_clients: dict[tuple[int, str, str, str, float, float], Client] = {}
_clients_lock = threading.Lock()


def zeep_client(config: SoapConfig) -> Client:
    """The process's zeep ``Client`` for this WSDL and user, built once (WSDL parsing is slow)."""
    secret = hashlib.sha256(config.password.get_secret_value().encode()).hexdigest()
    key = (
        os.getpid(),
        config.wsdl,
        config.username,
        secret,
        config.connect_timeout,
        config.operation_timeout,
    )
    with _clients_lock:
        if key not in _clients:
            session = requests.Session()
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
            transport = _CappedTransport(
                session=session,
                timeout=config.connect_timeout,
                operation_timeout=(config.connect_timeout, config.operation_timeout),
            )
            wsse = UsernameToken(
                config.username, config.password.get_secret_value(), use_digest=True
            )
            _clients[key] = Client(
                config.wsdl, transport=transport, wsse=wsse, settings=SAFE_SETTINGS
            )
        return _clients[key]


def parse_envelope(raw: bytes) -> etree._Element:
    """The envelope, or ``ContractError`` for anything that is not plain, DTD-free XML."""
    if b"<!DOCTYPE" in raw[:4096] or b"<!ENTITY" in raw:
        raise ContractError("response carries a DTD or entity declarations: refused")
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ContractError(f"response is not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise ContractError("response carries a DTD: refused")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ContractError(f"response is not a SOAP 1.1 envelope ({root.tag})")
    return root


class SoapClient:
    """One legacy SOAP service. Subclasses override ``classify_fault`` and ``check_answer``."""

    system: ClassVar[str] = "soap"

    def __init__(
        self, config: SoapConfig, mask: Masker, evidence: EvidenceStore | None = None
    ) -> None:
        self.config = config
        self.mask = mask
        self.evidence = evidence
        self.client = zeep_client(config)
        for name in ("zeep.transports", "zeep.wsdl.bindings.soap", "zeep.xsd"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _MaskingLogFilter) for f in logger.filters):
                logger.addFilter(_MaskingLogFilter(mask))

    # -- the one place that decides ------------------------------------------------------------

    def classify_fault(self, code: str, message: str) -> ConnectorError:
        """What a SOAP fault means. ``code`` is the faultcode without its prefix."""
        if code.startswith("Server.Busy") or code == "Server":
            return TransientError(f"{code}: {message}", system=self.system, code=code)
        if code.startswith("Client.SubjectNotFound") or code.endswith("NotFound"):
            return BusinessAnswer(f"{code}: {message}", system=self.system, code=code)
        return ContractError(f"{code}: {message}", system=self.system, code=code)

    def check_answer(self, operation: str, body: etree._Element) -> None:
        """Raise for an error a legacy system hides in a 200 answer. Default: none known."""

    def classify_response(
        self, operation: str, response: requests.Response, idempotent: bool
    ) -> etree._Element:
        """The answer's body element, or the ``ConnectorError`` it amounts to."""
        if response.status_code in (502, 503) or (response.status_code == 504 and idempotent):
            raise TransientError(f"HTTP {response.status_code}", system=self.system)
        if response.status_code == 504:
            raise OutcomeUnknown("HTTP 504 after the request was sent", system=self.system)
        if response.status_code not in (200, 500):
            raise ContractError(f"HTTP {response.status_code}", system=self.system)
        envelope = parse_envelope(response.content)
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        first = None if body is None else next(iter(body), None)
        if first is None:
            raise ContractError("empty SOAP body", system=self.system)
        if first.tag == f"{{{SOAP_ENV}}}Fault":  # in a 500, or hidden in a 200
            code = (first.findtext("faultcode") or "").split(":", 1)[-1]
            raise self.classify_fault(code, first.findtext("faultstring") or "")
        if response.status_code != 200:
            raise ContractError("HTTP 500 without a SOAP fault", system=self.system)
        self.check_answer(operation, first)
        return first

    # -- calling -------------------------------------------------------------------------------

    def call(self, operation: str, *, idempotent: bool, **params: Any) -> SoapAnswer:
        """Call with retries of transient failures (bounded); other failures propagate."""
        return with_retry(
            lambda: self._call_once(operation, idempotent, params),
            self.config.retry,
            what=f"{self.system}.{operation}",
        )

    def _call_once(self, operation: str, idempotent: bool, params: dict[str, Any]) -> SoapAnswer:
        try:
            with self.client.settings(raw_response=True):
                response = getattr(self.client.service, operation)(**params)
        except requests.ConnectTimeout as exc:
            raise TransientError(f"connect timeout: {exc}", system=self.system) from exc
        except requests.ReadTimeout as exc:
            if idempotent:
                raise TransientError(f"read timeout: {exc}", system=self.system) from exc
            raise OutcomeUnknown(
                f"no answer within {self.config.operation_timeout}s after the request was sent",
                system=self.system,
            ) from exc
        except requests.ConnectionError as exc:
            raise TransientError(f"connection failed: {exc}", system=self.system) from exc
        except ZeepError as exc:  # the request could not even be built: our contract is off
            raise ContractError(f"request refused by the WSDL: {exc}", system=self.system) from exc
        fetched_at = utcnow()
        try:
            body = self.classify_response(operation, response, idempotent)
        finally:
            self._keep_evidence(operation, response)
        digest = self.evidence.put_raw(response.content) if self.evidence else ""
        return SoapAnswer(operation, body, response.content, digest, fetched_at)

    def _keep_evidence(self, operation: str, response: requests.Response) -> None:
        if self.evidence is None:
            return
        request_body = response.request.body or b""
        text = (
            request_body.decode("utf-8", "replace")
            if isinstance(request_body, bytes)
            else str(request_body)
        )
        answer = response.content[:1_000_000].decode("utf-8", "replace")
        self.evidence.put_masked(
            self.system,
            f"{operation}.txt",
            f"> {blank_secrets(text)}\n\n< HTTP {response.status_code}\n{answer}",
        )
