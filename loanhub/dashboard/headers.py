"""The security headers of every answer the dashboard gives, pages, errors, redirects and
``/metrics`` alike (one ASGI middleware on the dashboard's own app, so inside Airflow only
what is served under ``/loanhub`` gets them and Airflow's own UI keeps its headers).

- ``Content-Security-Policy`` without ``'unsafe-inline'``: the pages' few ``<style>`` and
  ``<script>`` elements carry the request's nonce (``nonce(request)``, put in the templates by
  the renderers), no element has a ``style`` attribute or an inline handler, so an injected
  tag or attribute runs nothing and styles nothing; no frame may hold the dashboard
  (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` for old browsers), forms post
  only to it, no ``<base>``, no plugin.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a page address names
  an application; nothing of it leaves for another site).
- ``Cache-Control: no-store`` on every answer: every page shows personal data (masked or
  not, an operator's evidence, the case file), and the dashboard serves no static asset that
  would be worth caching.

A route that sets a header itself keeps its own value.
"""

from __future__ import annotations

import secrets

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATE_KEY = "csp_nonce"


def policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


def headers(nonce: str) -> dict[str, str]:
    return {
        "content-security-policy": policy(nonce),
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
        "cross-origin-opener-policy": "same-origin",
    }


def nonce(request: Request) -> str:
    """The request's CSP nonce (made by ``SecurityHeaders``); "" outside it (a test renders)."""
    return request.scope.get("state", {}).get(STATE_KEY, "")


class SecurityHeaders:
    """Pure ASGI (no ``BaseHTTPMiddleware``): streams pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        made = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[STATE_KEY] = made
        extra = headers(made)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in raw}
                raw += [(k.encode(), v.encode()) for k, v in extra.items() if k not in present]
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, with_headers)


__all__ = ["SecurityHeaders", "headers", "nonce", "policy"]
