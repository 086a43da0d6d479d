"""Latency and fault controls of every simulator: one JSON file, changeable at run time.

Shape: ``{system: {"*": {...}, operation: {...}}}``; an operation's keys override the
system's ``"*"`` keys. Common keys: ``latency`` (seconds, a number or ``[low, high]``),
``fault`` (a kind the operation knows) and ``rate`` (0..1, the share of calls that get it).
Tests change them per test through the admin endpoint; the file keeps them across restarts.

The gateway's ``reject_accounts`` (``{account: "AC04" | "AC01" | null}``) answers every payment
to that creditor account as closed (AC04) or unknown (AC01), as the core does when an account
was closed or moved after the hub's last extract; a ``null`` value lifts it again (a patch
merges into the mapping, so a key is lifted, not removed).

Crash points (``crash``, per system; the SFTP server reads ``sftp.crash``): one armed point,
``{"at": "open"|"write"|"close"|"rename", "when": "before"|"after", "path": <glob of the
server path, the new name for a rename>, "action": "drop"|"hold", "hold_seconds": s,
"times": n}``, armed whole (a patch replaces the point before it). The first ``times``
(default 1) matching operations hit it: ``drop`` aborts the
connection there (``before``: the operation is not done; ``after``: it is done and its answer
never sent); ``hold`` first journals ``crash``, then waits ``hold_seconds`` with the client
waiting for its answer (a test or the crash sweep SIGKILLs the client then), then drops.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    # the catalogue's latencies; tests set them to zero
    "bureau": {"*": {"latency": [0.5, 3.0], "fault": "busy", "rate": 0.0}},
    "core": {"*": {"latency": [0.05, 0.3], "fault": "busy", "rate": 0.0}},
    "sftp": {"*": {"fault": "drop", "rate": 0.0, "drop_after_bytes": 32768}},
    "tax": {"*": {"answer_delay": [2.0, 5.0], "fault": None, "rate": 0.0, "retention_days": 7}},
    "gateway": {
        "*": {
            "answer_delay": [0.5, 1.5],
            "settle_delay": [1.0, 3.0],
            "insufficient_funds_rate": 0.0,
            # {creditor account: "AC04" | "AC01" | null}: the core closed the account (or no
            # longer knows it) after the hub's last extract; null lifts it again
            "reject_accounts": {},
        }
    },
    "smtp": {"*": {}},
    # the nightly extract written at start-up: corrupt records, and "count" or "hash" to break
    # the trailer
    "extract": {"*": {"corrupt": 0, "trailer": None}},
    "ss": {
        "*": {
            "latency": [1.0, 3.0],
            "fault": "busy",
            "rate": 0.0,
            "notice_rate": 0.2,
            "idle_seconds": 300,
            "lock_after": 5,
            "variant": False,
            "captcha": False,
        }
    },
    "los": {
        "*": {
            "latency": [0.3, 1.0],
            "fault": "busy",
            "rate": 0.0,
            "gateway_504_rate": 0.1,
            "idle_seconds": 900,
            "lock_after": 5,
            "variant": False,
        }
    },
}


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


RATES = ("rate", "notice_rate", "gateway_504_rate", "insufficient_funds_rate")
DURATIONS = ("latency", "answer_delay", "settle_delay", "hold_seconds")
CRASH_AT = ("open", "write", "close", "rename")
CRASH_WHEN = ("before", "after")
CRASH_ACTIONS = ("drop", "hold")


def _duration_ok(value: Any) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value >= 0
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and v >= 0 for v in value)
        and value[0] <= value[1]
    )


def validate(patch: Any) -> None:
    """``{system: {operation: {key: value}}}`` with sane rates and durations, or ValueError."""
    if not isinstance(patch, dict):
        raise ValueError("controls patch must be an object of systems")
    for system, ops in patch.items():
        if not isinstance(ops, dict) or not all(isinstance(v, dict) for v in ops.values()):
            raise ValueError(f"{system}: expected an object of operations, each an object")
        for op, keys in ops.items():
            for key, value in keys.items():
                where = f"{system}.{op}.{key}"
                if key in RATES and not (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and 0 <= value <= 1
                ):
                    raise ValueError(f"{where}: a rate between 0 and 1, got {value!r}")
                if key in DURATIONS and not _duration_ok(value):
                    raise ValueError(f"{where}: seconds or [low, high], got {value!r}")
                if key in ("times", "skip") and not (isinstance(value, int) and value >= 0):
                    raise ValueError(f"{where}: a count of calls, got {value!r}")
                if key == "ratings" and not (
                    isinstance(value, dict) and set(value.values()) <= set("ABMCD")
                ):
                    raise ValueError(f"{where}: {{subject: tax rating A|B|M|C|D}}, got {value!r}")
                if key == "reject_accounts" and not (
                    isinstance(value, dict)
                    and all(isinstance(a, str) for a in value)
                    and set(value.values()) <= {"AC01", "AC04", None}
                ):
                    raise ValueError(f"{where}: {{account: AC01|AC04|null}}, got {value!r}")
                if key == "fault" and value is not None and not isinstance(value, str):
                    raise ValueError(f"{where}: a fault kind or null, got {value!r}")
            if op == "crash":
                _validate_crash(system, keys)


def _validate_crash(system: str, keys: dict[str, Any]) -> None:
    """A crash point names a known operation, moment and action; a typo must not arm nothing."""
    for key, allowed in (("at", CRASH_AT), ("when", CRASH_WHEN), ("action", CRASH_ACTIONS)):
        if key in keys and keys[key] not in allowed:
            raise ValueError(f"{system}.crash.{key}: one of {allowed}, got {keys[key]!r}")
    if "path" in keys and not isinstance(keys["path"], str):
        raise ValueError(f"{system}.crash.path: a glob of server paths, got {keys['path']!r}")


class Controls:
    """Thread-safe view of the controls file; ``update`` merges a patch and saves it."""

    def __init__(self, path: Path | None = None, seed: int = 0) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not secrets
        self._data = copy.deepcopy(DEFAULTS)
        if path is not None and path.exists():
            _merge(self._data, json.loads(path.read_text(encoding="utf-8")))
        self._save()

    def _save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(
                json.dumps(self._data, indent=2, ensure_ascii=False), encoding="utf-8"
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data)

    def update(self, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge a patch after checking it: a typo must be refused, not break every call."""
        validate(patch)
        with self._lock:
            for system, ops in patch.items():  # a crash point is armed whole, never merged
                if "crash" in ops:
                    self._data.setdefault(system, {})["crash"] = {}
            _merge(self._data, patch)
            self._save()
            return copy.deepcopy(self._data)

    def reset(self) -> None:
        with self._lock:
            self._data = copy.deepcopy(DEFAULTS)
            self._save()

    def get(self, system: str, op: str, key: str, default: Any = None) -> Any:
        with self._lock:
            section = self._data.get(system, {})
            if key in section.get(op, {}):
                return section[op][key]
            return section.get("*", {}).get(key, default)

    def seconds(self, system: str, op: str, key: str = "latency") -> float:
        """A duration drawn from a number or a ``[low, high]`` range."""
        value = self.get(system, op, key, 0.0) or 0.0
        if isinstance(value, list | tuple):
            low, high = value
            with self._lock:
                return self._rng.uniform(low, high)
        return float(value)

    def delay(self, system: str, op: str) -> None:
        seconds = self.seconds(system, op)
        if seconds > 0:
            time.sleep(seconds)

    def chance(self, system: str, op: str, key: str = "rate") -> bool:
        rate = float(self.get(system, op, key, 0.0) or 0.0)
        if rate <= 0:
            return False
        with self._lock:
            return rate >= 1 or self._rng.random() < rate

    def crash(self, system: str, at: str, when: str, path: str) -> dict[str, Any] | None:
        """The armed crash point this operation hits (one of its ``times`` used), or None.

        Deterministic, unlike ``rate``: a test says "drop the connection right after the
        rename of ``/payments/in/*.xml``" and exactly that call gets it."""
        with self._lock:
            spec = self._data.get(system, {}).get("crash")
            if not spec or spec.get("at") != at or spec.get("when", "before") != when:
                return None
            if not fnmatch.fnmatchcase(path, spec.get("path", "*")):
                return None
            times = spec.get("times", 1)
            if not isinstance(times, int) or times <= 0:
                return None
            spec["times"] = times - 1
            return dict(spec)

    def fault(self, system: str, op: str) -> str | None:
        """The fault kind to inject into this call, or None.

        ``times: N`` on an operation injects the fault into exactly its next N calls (then the
        operation behaves again), so a test can script "busy, then success"; ``skip: K`` lets
        K calls through first ("expire the session on the third page").
        """
        with self._lock:
            section = self._data.get(system, {}).get(op, {})
            skip = section.get("skip")
            if isinstance(skip, int) and skip > 0:
                section["skip"] = skip - 1
                return None
            times = section.get("times")
            if isinstance(times, int) and times > 0:
                section["times"] = times - 1
                return section.get("fault") or self._data[system].get("*", {}).get("fault")
        return self.get(system, op, "fault") if self.chance(system, op) else None
