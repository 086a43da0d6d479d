"""Evidence of what was exchanged with a legacy system, kept as files.

Two areas: ``raw/`` holds payloads exactly as received, content-addressed by SHA-256 (the
lineage hash of every stored fact points here; owner-only permissions), and ``masked/`` holds
request/response pairs with personal data masked, for people to read when something fails.
Both are owner-only: every directory 0700 and every file 0600 (``kernel.files``), whatever
the process's umask.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from connectors.config import Masker
from kernel.files import private_dir, tighten, write_private


class EvidenceUnwritable(OSError):
    """The evidence store cannot keep a record (disk full, read-only, a path in the way).

    Its own type so that a caller can tell *where* in a call it failed: before a request left
    (nothing was sent: a transient failure) or after the answer came (the answer exists at the
    peer but is not kept here), which a generic ``OSError`` cannot say."""


class EvidenceStore:
    def __init__(self, root: Path, mask: Masker) -> None:
        self.root = root
        self.mask = mask
        private_dir(root)
        for area in ("raw", "masked"):
            private_dir(root / area)

    def put_raw(self, data: bytes) -> str:
        """Keep the payload as received; returns its SHA-256 (idempotent). The same payload
        received again is stamped received now: the retention counts from its last receipt,
        so a fact stored today never points at a payload purged for its first receipt."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / "raw" / digest[:2] / digest
        if path.exists():
            with contextlib.suppress(OSError):  # the payload is kept; the stamp is best effort
                os.utime(path)
                tighten(path.parent)  # kept 0755/0644 by an old install: owner-only now
                tighten(path)
        else:
            temp = path.with_name(f".{digest}.{uuid.uuid4().hex}.tmp")  # one per writer
            try:
                private_dir(path.parent)
                write_private(temp, data)
                temp.replace(path)  # same content whoever wins
            except OSError as exc:
                with contextlib.suppress(OSError):
                    temp.unlink(missing_ok=True)  # nothing partial is kept
                raise EvidenceUnwritable(exc.errno, f"cannot keep raw evidence: {exc}") from exc
        return digest

    def get_raw(self, digest: str) -> bytes:
        return (self.root / "raw" / digest[:2] / digest).read_bytes()

    def put_masked(self, system: str, name: str, text: str) -> Path:
        """A masked, human-readable record of one exchange."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.root / "masked" / system / f"{stamp}-{uuid.uuid4().hex[:8]}-{name}"
        try:
            private_dir(path.parent)
            write_private(path, self.mask(text).encode("utf-8"))
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # a truncated record is worse than none
            raise EvidenceUnwritable(exc.errno, f"cannot keep masked evidence: {exc}") from exc
        return path
