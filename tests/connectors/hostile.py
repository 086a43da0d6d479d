"""A hostile HTTP(S) peer for the SOAP client's tests: raw sockets, so it can do what no
well-behaved server library lets it (trickle headers, lie about lengths, never end a chunked
body, hang up in the middle of a TLS handshake), and a journal of what each address received,
so a test can prove that a request never reached the second address of a redirect.

Every peer turns Nagle off (protocol-notes.md: otherwise each exchange waits ~45 ms).
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

WSDL_PATH = Path(__file__).resolve().parents[2] / "contracts" / "wsdl" / "bureau.wsdl"
ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soap:Body>{}</soap:Body></soap:Envelope>"
)


@dataclass(frozen=True)
class Received:
    """One request as the peer read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[socket.socket, Received, "HostilePeer"], None]


def _read_request(conn: socket.socket) -> Received | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Received(method, path, headers, body)


@dataclass
class HostilePeer:
    """One listening address; ``behaviour`` answers every request it receives."""

    behaviour: Behaviour
    tls: ssl.SSLContext | None = None
    journal: list[Received] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/bureau"

    def posts(self) -> list[Received]:
        return [r for r in self.journal if r.method == "POST"]

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(30)
        with contextlib.suppress(OSError, ssl.SSLError), conn:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            while not self.stopped.is_set():
                request = _read_request(conn)
                if request is None:
                    return
                self.journal.append(request)
                self.behaviour(conn, request, self)

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


@contextlib.contextmanager
def peer(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> Iterator[HostilePeer]:
    server = HostilePeer(behaviour, tls)
    try:
        yield server
    finally:
        server.close()


# -- behaviours --------------------------------------------------------------------------------


def wsdl_for(server: HostilePeer) -> bytes:
    return WSDL_PATH.read_text().replace("http://127.0.0.1:0/bureau", server.url).encode()


def response(status: int, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def serves_wsdl(post: Behaviour) -> Behaviour:
    """GET: the bureau's WSDL bound to this peer; POST: ``post``."""

    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        if request.method == "GET":
            conn.sendall(response(200, wsdl_for(server), "Content-Type: text/xml"))
        else:
            post(conn, request, server)

    return behaviour


def trickle_headers(interval: float = 1.0, lines: int = 120) -> Behaviour:
    """The status line, then one header line every ``interval`` seconds: each read gets a
    byte in time, so only a deadline over the whole call ends it."""

    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for i in range(lines):
            time.sleep(interval)
            conn.sendall(f"X-Slow-{i}: {i}\r\n".encode())

    return behaviour


def trickle_wsdl(interval: float = 0.2, chunk: int = 64) -> Behaviour:
    """A WSDL sent ``chunk`` bytes every ``interval`` seconds."""

    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        body = wsdl_for(server)
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for start in range(0, len(body), chunk):
            time.sleep(interval)
            conn.sendall(body[start : start + chunk])

    return behaviour


def huge_wsdl(megabytes: int = 100, declare: bool = True) -> Behaviour:
    """A WSDL padded with a comment to ``megabytes`` MB, with or without its Content-Length."""

    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        wsdl = wsdl_for(server)
        head, _, tail = wsdl.partition(b"?>")
        size = megabytes * 1024 * 1024
        length = f"Content-Length: {size + len(wsdl) + 7}\r\n" if declare else ""
        conn.sendall(f"HTTP/1.1 200 OK\r\n{length}Connection: close\r\n\r\n".encode())
        conn.sendall(head + b"?><!--")
        block = b" " * (1024 * 1024)
        for _ in range(megabytes):
            conn.sendall(block)
        conn.sendall(b"-->" + tail)
        conn.shutdown(socket.SHUT_WR)

    return behaviour


def redirect(status: int, location: str) -> Behaviour:
    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        conn.sendall(response(status, b"", f"Location: {location}"))

    return behaviour


def answer(status: int, body: bytes, *headers: str) -> Behaviour:
    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        conn.sendall(response(status, body, "Content-Type: text/xml", *headers))

    return behaviour


def fault(code: str, text: str) -> bytes:
    return ENVELOPE.format(
        f"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{text}</faultstring>"
        "</soap:Fault>"
    ).encode()


def chunked_forever(interval: float = 0.1) -> Behaviour:
    """A chunked body whose last chunk never comes."""

    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            time.sleep(interval)
            conn.sendall(b"1\r\n \r\n")

    return behaviour


def huge_header(size: int = 1024 * 1024) -> Behaviour:
    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"A" * size + b"\r\n\r\n")

    return behaviour


def lying_length(declared: int, body: bytes) -> Behaviour:
    """A Content-Length the body does not keep; the peer hangs up after the body."""

    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n".encode() + body)
        conn.shutdown(socket.SHUT_WR)
        time.sleep(0.5)

    return behaviour


def gzip_bomb(megabytes: int = 1024) -> Behaviour:
    """An answer of a few MB that inflates to ``megabytes`` MB of spaces."""
    buffer = gzip.compress(b" " * (megabytes * 1024 * 1024), compresslevel=9, mtime=0)

    def behaviour(conn: socket.socket, request: Received, server: HostilePeer) -> None:
        conn.sendall(response(200, buffer, "Content-Encoding: gzip", "Content-Type: text/xml"))

    return behaviour


@contextlib.contextmanager
def tls_hangup() -> Iterator[tuple[str, list[bytes]]]:
    """A TLS address that reads the ClientHello and hangs up in the middle of the handshake."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                conn.settimeout(2)
                received.append(conn.recv(65536))  # the ClientHello, then nothing

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{port}/bureau", received
    finally:
        listener.close()
