"""WS-Security UsernameToken with PasswordDigest, checked the way the bureau and the core do.

digest = Base64(SHA-1(nonce + created + password)); ``Created`` must lie within five minutes
of now; a nonce is accepted once (replayed envelopes are refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import deque
from datetime import UTC, datetime

from lxml import etree

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
WINDOW_SECONDS = 300


class AuthenticationFailed(Exception):
    """The token is missing, malformed, stale, replayed or its digest is wrong."""


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(
        hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324 - the standard's digest
    ).decode()


class UsernameTokenVerifier:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self._nonces: set[bytes] = set()
        self._by_age: deque[tuple[float, bytes]] = deque()
        self._lock = threading.Lock()

    def verify(self, header: etree._Element | None) -> str:
        """The authenticated user name, or ``AuthenticationFailed`` saying why."""
        token = (
            None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        )
        if token is None:
            raise AuthenticationFailed("no WS-Security UsernameToken")
        user = token.findtext(f"{{{WSSE}}}Username") or ""
        password_el = token.find(f"{{{WSSE}}}Password")
        nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if password_el is None or password_el.get("Type") != DIGEST:
            raise AuthenticationFailed("PasswordDigest required")
        if not nonce_text or not created:
            raise AuthenticationFailed("Nonce and Created are required")
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError as exc:
            raise AuthenticationFailed(f"malformed token: {exc}") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - when).total_seconds()) > WINDOW_SECONDS:
            raise AuthenticationFailed("Created is not within 5 minutes of the server's time")
        expected = password_digest(nonce, created, self.users.get(user, ""))
        if user not in self.users or not hmac.compare_digest(expected, password_el.text or ""):
            raise AuthenticationFailed("wrong user name or password")
        now = time.monotonic()
        with self._lock:  # a nonce older than the window can no longer pass the Created check
            while self._by_age and now - self._by_age[0][0] > 2 * WINDOW_SECONDS:
                self._nonces.discard(self._by_age.popleft()[1])
            if nonce in self._nonces:
                raise AuthenticationFailed("nonce already used (replayed request)")
            self._nonces.add(nonce)
            self._by_age.append((now, nonce))
        return user
