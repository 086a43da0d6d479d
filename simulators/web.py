"""What the two legacy web applications share: GBK pages, cookie sessions, form parsing,
latency and the busy page, the login trap (an account locks after repeated failures).

Bytes on the wire are what a 2005-era J2EE portal sends: ``text/html; charset=GBK``; forms
come back percent-encoded in GBK, with characters GBK lacks sent by the browser as ``&#NNNN;``.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from simulators.controls import Controls
from simulators.journal import Journal

StartResponse = Callable[..., Any]


class BadRequest(Exception):
    """A malformed request: answered with the legacy error page, never a crash."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]


@dataclass
class Response:
    body: str | bytes
    status: str = "200 OK"
    content_type: str = "text/html"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Session:
    token: str
    user: str
    last_seen: float
    data: dict[str, Any] = field(default_factory=dict)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def redirect(location: str) -> Response:
    return Response("", status="302 Found", headers=[("Location", location)])


class LegacyWebApp:
    """Base of the portal and the LOS: sessions, encoding, login lock-out, latency, busy page."""

    system = ""
    prefix = ""
    login_path = "login"
    cookie = "JSESSIONID"
    encoding = "gbk"

    def __init__(self, controls: Controls, journal: Journal, users: dict[str, str]) -> None:
        self.controls = controls
        self.journal = journal
        self.users = users
        self.sessions: dict[str, Session] = {}
        self.failures: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = self._parse(environ)
            self.controls.delay(self.system, request.path)
            response = self.handle(request)
        except BadRequest as exc:
            response = Response(
                self.page(
                    "系统错误",
                    f'<p>系统错误：{esc(exc)}</p><p><a href="{self.prefix}/">返回首页</a></p>',
                )
            )
        body = response.body
        if isinstance(body, str):
            body = body.encode(self.encoding, errors="xmlcharrefreplace")
        headers = [
            ("Content-Type", f"{response.content_type}; charset={self.encoding.upper()}"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            *response.headers,
        ]
        start_response(response.status, headers)
        return [body]

    def _parse(self, environ: dict[str, Any]) -> Request:
        path = environ.get("PATH_INFO", "").removeprefix(self.prefix) or "/"
        try:
            query = self._decode_pairs(environ.get("QUERY_STRING", ""))
            form: dict[str, str] = {}
            if environ["REQUEST_METHOD"] == "POST":
                size = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(size).decode("ascii")
                form = self._decode_pairs(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest("请求参数编码错误") from exc
        cookies = {k: m.value for k, m in SimpleCookie(environ.get("HTTP_COOKIE", "")).items()}
        return Request(environ["REQUEST_METHOD"], path, query, form, cookies)

    def _decode_pairs(self, raw: str) -> dict[str, str]:
        pairs = parse_qsl(
            raw,
            keep_blank_values=True,
            strict_parsing=False,
            encoding=self.encoding,
            errors="strict",
        )
        return {k: html.unescape(v).strip() for k, v in pairs}

    def page(self, title: str, body: str, head: str = "") -> str:
        return (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<html><head>'
            f'<meta http-equiv="Content-Type" content="text/html; charset={self.encoding.upper()}">'
            f"<title>{esc(title)}</title>{head}</head>"
            "<body style=\"font-family:SimSun,'WenQuanYi Micro Hei',serif;font-size:12px\">"
            f"{body}</body></html>"
        )

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    # -- sessions ----------------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        """The live session of this request, touched; None when absent or idle too long."""
        token = request.cookies.get(self.cookie)
        idle = float(self.controls.get(self.system, "session", "idle_seconds", 300))
        with self._lock:
            found = self.sessions.get(token or "")
            if found is None:
                return None
            now = time.monotonic()
            if now - found.last_seen > idle:
                del self.sessions[found.token]
                self.journal.record(self.system, "session_expired", user=found.user)
                return None
            found.last_seen = now
            return found

    def open_session(self, user: str) -> tuple[Session, list[tuple[str, str]]]:
        token = secrets.token_hex(16).upper()
        session = Session(token, user, time.monotonic())
        with self._lock:
            self.sessions[token] = session
        cookie = f"{self.cookie}={token}; Path={self.prefix}/; HttpOnly"
        return session, [("Set-Cookie", cookie)]

    def close_session(self, request: Request) -> None:
        with self._lock:
            self.sessions.pop(request.cookies.get(self.cookie, ""), None)

    def check_login(self, user: str, password: str, extra_ok: bool = True) -> str | None:
        """None when the login succeeds, else the error the page shows. Locks after N failures."""
        limit = int(self.controls.get(self.system, "login", "lock_after", 5))
        with self._lock:
            if self.failures.get(user, 0) >= limit:
                self.journal.record(self.system, "login", user=user, ok=False, locked=True)
                return "账户已锁定，请联系系统管理员解锁"
            ok = user in self.users and secrets.compare_digest(
                self.users[user].encode(), password.encode()
            )  # bytes: any input, no crash
            if ok and extra_ok:
                self.failures[user] = 0
                self.journal.record(self.system, "login", user=user, ok=True)
                return None
            self.failures[user] = self.failures.get(user, 0) + 1
            left = limit - self.failures[user]
        self.journal.record(self.system, "login", user=user, ok=False, locked=left <= 0)
        if left <= 0:
            return "账户已锁定，请联系系统管理员解锁"
        what = "动态口令错误" if ok else "用户名或密码错误"
        return f"{what}，还可尝试 {left} 次"

    def unlock(self, user: str) -> None:
        """What the system administrator does when a locked user calls."""
        with self._lock:
            self.failures.pop(user, None)
        self.journal.record(self.system, "unlocked", user=user)

    def interrupt(self, request: Request) -> Response | None:
        """What a fault puts in place of the page: ``busy``, the 200 page a loaded legacy server
        shows instead of the content, or ``session_expired``, the login a timed-out session
        lands on (the session is gone, as after an idle timeout)."""
        fault = self.controls.fault(self.system, request.path)
        if fault == "session_expired":
            self.close_session(request)
            self.journal.record(self.system, "session_expired", path=request.path)
            return redirect(f"{self.prefix}/{self.login_path}")
        if fault == "busy":
            self.journal.record(self.system, "busy", path=request.path)
            return Response(
                self.page(
                    "提示",
                    "<table width=100%><tr><td align=center>"
                    "<br><br><b>系统繁忙，请稍后再试</b><br><br>"
                    "</td></tr></table>",
                )
            )
        return None
