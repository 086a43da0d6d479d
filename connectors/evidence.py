"""Evidence of what was exchanged with a legacy system, kept as files.

Two areas: ``raw/`` holds payloads exactly as received, content-addressed by SHA-256 (the
lineage hash of every stored fact points here; owner-only permissions), and ``masked/`` holds
request/response pairs with personal data masked, for people to read when something fails.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from connectors.config import Masker


class EvidenceStore:
    def __init__(self, root: Path, mask: Masker) -> None:
        self.root = root
        self.mask = mask
        for area in ("raw", "masked"):
            (root / area).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "raw", 0o700)

    def put_raw(self, data: bytes) -> str:
        """Keep the payload as received; returns its SHA-256 (idempotent)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / "raw" / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            temp = path.with_name(f".{digest}.{uuid.uuid4().hex}.tmp")  # one per writer
            temp.write_bytes(data)
            os.chmod(temp, 0o600)
            temp.replace(path)  # same content whoever wins
        return digest

    def get_raw(self, digest: str) -> bytes:
        return (self.root / "raw" / digest[:2] / digest).read_bytes()

    def put_masked(self, system: str, name: str, text: str) -> Path:
        """A masked, human-readable record of one exchange."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.root / "masked" / system / f"{stamp}-{uuid.uuid4().hex[:8]}-{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.mask(text), encoding="utf-8")
        return path
