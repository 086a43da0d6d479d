"""What reached each simulator: queries, uploaded files, approvals, payments, mails.

A test asserts on the journal alone ("exactly one payment per loan reached the gateway"),
never on the hub's own account of what it sent.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Journal:
    """Append-only, thread-safe; mirrored to ``<dir>/<system>.jsonl`` when a directory is given."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._lock = threading.RLock()  # peak() records under the same lock: peaks stay in order
        self._entries: list[dict[str, Any]] = []
        self._peaks: dict[tuple[str, str], int] = {}
        self._files: dict[str, Any] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def record(self, system: str, kind: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            entry = {
                "seq": len(self._entries) + 1,
                "system": system,
                "kind": kind,
                "at": datetime.now(UTC).isoformat(),
                **fields,
            }
            self._entries.append(entry)
            if self.directory is not None:
                f = self._files.get(system)
                if f is None:
                    path = self.directory / f"{system}.jsonl"
                    f = self._files[system] = path.open("a", encoding="utf-8", buffering=1)
                f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            return entry

    def peak(self, system: str, kind: str, value: int) -> None:
        """Record ``value`` if it is the highest seen for ``(system, kind)`` since the journal
        was last cleared (how many clients a system served at once, say)."""
        with self._lock:
            if value <= self._peaks.get((system, kind), 0):
                return
            self._peaks[(system, kind)] = value
            self.record(system, kind, value=value)

    def entries(self, system: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(e)
                for e in self._entries
                if (system is None or e["system"] == system) and (kind is None or e["kind"] == kind)
            ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._peaks.clear()
