"""Canonical JSON: the one serialisation that hashes are computed over.

Keys sorted, no whitespace, UTF-8, Decimal and datetime as strings; so the same payload read
back from PostgreSQL's JSONB (which reorders keys) or SQLite's text hashes the same.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic_core import to_jsonable_python


def jsonable(value: Any) -> Any:
    """Plain JSON types for any payload (Decimal -> str, datetime -> ISO 8601, models -> dict)."""
    return to_jsonable_python(value)


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def sha256_hex(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value`` (or of the bytes themselves)."""
    data = value if isinstance(value, bytes | bytearray) else canonical_json(value)
    return hashlib.sha256(data).hexdigest()
