"""The raw evidence store: content-addressed, owner-only, and a payload received again is
stamped received now, so the retention (counted from the last receipt) never purges the
payload a fact stored today points at."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from connectors.evidence import EvidenceStore


def test_a_payload_received_again_is_stamped_anew(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, str)
    digest = store.put_raw(b"<report/>")
    path = tmp_path / "raw" / digest[:2] / digest
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    year_ago = time.time() - 365 * 86400
    os.utime(path, (year_ago, year_ago))
    assert store.put_raw(b"<report/>") == digest
    assert path.stat().st_mtime > time.time() - 60
    assert store.get_raw(digest) == b"<report/>"
