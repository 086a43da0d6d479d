"""Anchors of the audit chain: its head (number and hash) written outside the store.

The MACs stop a database user from rewriting events, but not from deleting the newest ones
or putting back an older copy of the whole table: what is left is still a valid chain. An
anchor says "event N had hash H" somewhere the store's role cannot write; ``verify`` then
requires every anchored event to be in the chain, unchanged, and the chain to reach the
newest anchor.

Each anchor is a new file (``O_CREAT | O_EXCL``, mode 0400) in a directory of mode 0700,
never rewritten; it carries a MAC under the audit key, so a file put there by someone without
the key is refused, not believed. Production points ``LOANHUB_AUDIT__ANCHOR_DIR`` at storage
the database host cannot reach (another host's mount, a WORM bucket synced from it).
"""

from __future__ import annotations

import hmac
import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loanhub.platform.audit_keys import AuditKeyring
from loanhub.platform.canonical import canonical_json

FORMAT = "loanhub-audit-anchor"
VERSION = 1
_NAME = re.compile(r"^anchor-(\d{12})-[0-9TZ]+-\d+-[0-9a-f]{8}\.json$")


@dataclass(frozen=True)
class Anchor:
    """One anchored head: event ``seq`` had ``hash`` at ``at``."""

    seq: int
    hash: str
    at: str
    path: Path


class AnchorRefused(ValueError):
    """An anchor file that is not the hub's: unreadable, malformed, or its MAC is wrong."""


def _body(seq: int, head: str, at: str, host: str) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "seq": seq, "hash": head, "at": at, "host": host}


def _mac(ring: AuditKeyring, body: dict[str, Any]) -> str:
    return ring.mac("anchor/v1", canonical_json(body))


def prepare_dir(directory: Path) -> None:
    """The anchor directory, made owner-only (0700) if new, tightened if an old one is not."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_mode & 0o077:
        directory.chmod(0o700)


def write(ring: AuditKeyring, seq: int, head: str) -> Anchor:
    """Write one new anchor file for event ``seq`` with hash ``head``; never overwrites."""
    prepare_dir(ring.anchor_dir)
    now = datetime.now(UTC)
    at = now.isoformat(timespec="microseconds")
    body = _body(seq, head, at, socket.gethostname())
    body["mac"] = _mac(ring, body)
    name = f"anchor-{seq:012d}-{now:%Y%m%dT%H%M%S%fZ}-{os.getpid()}-{os.urandom(4).hex()}.json"
    path = ring.anchor_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(canonical_json(body).decode("utf-8") + "\n")
        out.flush()
        os.fsync(out.fileno())
    return Anchor(seq, head, at, path)


def read(ring: AuditKeyring, path: Path) -> Anchor:
    """One anchor file, checked: its format and its MAC (``AnchorRefused`` otherwise)."""
    try:
        if not path.is_file() or path.is_symlink():
            raise AnchorRefused(f"anchor {path.name} is not a regular file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AnchorRefused(f"anchor {path.name} is unreadable: {exc}") from None
    if not isinstance(data, dict) or set(data) != {*_body(0, "", "", ""), "mac"}:
        raise AnchorRefused(f"anchor {path.name} is not a loanhub audit anchor")
    given = data.pop("mac")
    seq, head = data.get("seq"), data.get("hash")
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise AnchorRefused(f"anchor {path.name} is not a version {VERSION} anchor")
    if not isinstance(seq, int) or not isinstance(head, str) or not isinstance(given, str):
        raise AnchorRefused(f"anchor {path.name} is malformed")
    if not hmac.compare_digest(given, _mac(ring, data)):
        raise AnchorRefused(f"anchor {path.name} is forged or damaged (its MAC does not match)")
    return Anchor(seq, head, str(data["at"]), path)


def files(ring: AuditKeyring) -> list[Path]:
    """Every file in the anchor directory that claims to be an anchor, oldest number first.
    A file named like one but shaped otherwise is included: ``read`` refuses it loudly."""
    if not ring.anchor_dir.is_dir():
        return []
    found = [p for p in ring.anchor_dir.iterdir() if p.name.startswith("anchor-")]
    return sorted(found, key=lambda p: p.name)


def newest_seq(ring: AuditKeyring) -> int:
    """The highest event number anchored, read from the names alone (cheap; not verified)."""
    best = 0
    for path in files(ring):
        if match := _NAME.match(path.name):
            best = max(best, int(match.group(1)))
    return best
