"""A small SOAP 1.1 document/literal server (WSGI, lxml) that the bureau and the core share.

It serves its static WSDL at ``?wsdl`` with the real address, checks WS-Security, applies the
controls (latency, injected faults), journals every call and answers SOAP faults for bad input:
malformed XML, a DTD, an unknown operation or a missing parameter are ``Client`` faults and never
crash the server.

Two injected faults per operation (``fault`` with ``rate`` or ``times``): ``busy`` refuses the
call before the handler runs (nothing recorded, safe to retry); ``lost`` runs the handler (the
system has recorded the call) and then breaks the answer off mid-body and closes the connection,
the way a line dies after the legacy system committed: the client cannot know what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from lxml import etree

from contracts import WSDL_DIR
from simulators.controls import Controls
from simulators.journal import Journal
from simulators.wssecurity import AuthenticationFailed, UsernameTokenVerifier

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
)
log = logging.getLogger(__name__)

Handler = Callable[[dict[str, str], str], etree._Element]
StartResponse = Callable[..., Any]


class AnswerLost(Exception):
    """The handler ran (its effect is recorded) and its answer must never reach the client."""

    def __init__(self, body: bytes) -> None:
        super().__init__("answer lost after the call was recorded")
        self.body = body


class SoapFault(Exception):
    """A fault the service answers; ``code`` is e.g. ``Client.SubjectNotFound``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fault_envelope(code: str, message: str) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


class SoapService:
    """One SOAP service: its WSDL, its users and a handler per operation."""

    def __init__(
        self,
        system: str,
        wsdl: str,
        namespace: str,
        users: dict[str, str],
        controls: Controls,
        journal: Journal,
    ) -> None:
        self.system = system
        self.namespace = namespace
        self.wsdl_template = (WSDL_DIR / wsdl).read_text(encoding="utf-8")
        self.verifier = UsernameTokenVerifier(users)
        self.controls = controls
        self.journal = journal
        self.operations: dict[str, tuple[Handler, tuple[str, ...]]] = {}

    def operation(self, name: str, required: tuple[str, ...]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.operations[name] = (fn, required)
            return fn

        return register

    def element(self, tag: str) -> etree._Element:
        return etree.Element(f"{{{self.namespace}}}{tag}", nsmap={None: self.namespace})

    def sub(self, parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, f"{{{self.namespace}}}{tag}")
        if text is not None:
            el.text = text
        return el

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
            url = f"http://{host}{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"
            body = self.wsdl_template.replace(
                f"http://127.0.0.1:0/{self.system}", url.rstrip("/")
            ).encode()
            return self._reply(start_response, "200 OK", body)
        if environ["REQUEST_METHOD"] != "POST":
            return self._reply(start_response, "405 Method Not Allowed", b"")
        size = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(size) if size else b""
        try:
            status, body = "200 OK", self.handle(raw)
        except AnswerLost as lost:
            return self._broken(start_response, lost.body)
        except SoapFault as fault:
            status = "500 Internal Server Error"
            body = fault_envelope(fault.code, fault.message)
        except Exception:  # a simulator bug must still answer like a server, and be seen
            log.exception("%s: unexpected error", self.system)
            status = "500 Internal Server Error"
            body = fault_envelope("Server", "internal error")
        return self._reply(start_response, status, body)

    @staticmethod
    def _reply(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
        start_response(
            status,
            [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    @staticmethod
    def _broken(start_response: StartResponse, body: bytes) -> Iterable[bytes]:
        """Headers promising the whole answer, half of it, then the connection closes: the
        WSGI server sees fewer bytes than announced and drops the line."""
        start_response(
            "200 OK",
            [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
        )

        def half() -> Iterable[bytes]:
            yield body[: len(body) // 2]
            raise ConnectionAbortedError("answer lost after the call was recorded")

        return half()

    def handle(self, raw: bytes) -> bytes:
        try:
            envelope = etree.fromstring(raw, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", f"malformed XML: {exc}") from exc
        if envelope.getroottree().docinfo.doctype:
            raise SoapFault("Client", "DTDs are not accepted")
        if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
            raise SoapFault("Client", "not a SOAP 1.1 envelope")
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        request = None if body is None else next(iter(body), None)
        if request is None:
            raise SoapFault("Client", "empty SOAP body")
        op = etree.QName(request).localname
        if etree.QName(request).namespace != self.namespace or op not in self.operations:
            raise SoapFault("Client", f"unknown operation {op}")
        try:
            user = self.verifier.verify(envelope.find(f"{{{SOAP_ENV}}}Header"))
        except AuthenticationFailed as exc:
            self.journal.record(self.system, "auth_failed", operation=op, reason=str(exc))
            raise SoapFault("Client.Authentication", str(exc)) from exc
        self.controls.delay(self.system, op)
        fault = self.controls.fault(self.system, op)
        if fault == "busy":
            self.journal.record(self.system, "busy", operation=op)
            raise SoapFault("Server.Busy", "系统繁忙，请稍后再试 (server busy, retry later)")
        handler, required = self.operations[op]
        params = {etree.QName(child).localname: (child.text or "").strip() for child in request}
        missing = [p for p in required if not params.get(p)]
        if missing:
            raise SoapFault("Client", f"missing parameter(s): {', '.join(missing)}")
        try:
            result = handler(params, user)
        except SoapFault as answered:
            if fault == "lost":  # the fault was the answer, and it is lost too
                self.journal.record(self.system, "answer_lost", operation=op, code=answered.code)
                raise AnswerLost(fault_envelope(answered.code, answered.message)) from answered
            raise
        out = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
        etree.SubElement(out, f"{{{SOAP_ENV}}}Body").append(result)
        body = etree.tostring(out, xml_declaration=True, encoding="UTF-8")
        if fault == "lost":
            self.journal.record(self.system, "answer_lost", operation=op)
            raise AnswerLost(body)
        return body
