"""RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30 s step), the portal's own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

STEP = 30
DIGITS = 6


def code_at(secret_b32: str, counter: int) -> str:
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**DIGITS:0{DIGITS}d}"


def verify(secret_b32: str, code: str, now: float | None = None, drift_steps: int = 1) -> bool:
    """Accept the current step and up to ``drift_steps`` earlier ones (a slow typist, a clock
    a little behind); never a future step."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():  # not "１２３４５６"
        return False
    counter = int((time.time() if now is None else now) // STEP)
    return any(
        hmac.compare_digest(code_at(secret_b32, counter - k), code) for k in range(drift_steps + 1)
    )
