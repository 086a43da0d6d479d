"""What every benchmark shares: the result row, a timer and a scratch PostgreSQL database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
import requests

PG_ADMIN_URL = os.environ.get(
    "LOANHUB_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class Result:
    """One benchmark's figure: ``ratio`` = ours / reference, both in ``unit`` (higher is better)."""

    name: str
    ours: float
    reference: float
    unit: str
    reference_is: str
    goal: float | None = None  # the ratio the issue asks for, when it names one

    @property
    def ratio(self) -> float:
        return self.ours / self.reference

    def as_json(self) -> dict[str, float | str | None]:
        data = asdict(self)
        del data["name"]
        return {"ratio": round(self.ratio, 3), **data}

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        return f"goal >= {self.goal}: {'met' if self.ratio >= self.goal else 'BELOW'}"


def rate(count: int, action: Callable[[], None]) -> float:
    """Operations per second of ``action`` doing ``count`` operations."""
    start = time.perf_counter()
    action()
    return count / (time.perf_counter() - start)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A PostgreSQL database that exists for the duration of one benchmark."""
    name = f"loanhub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def simulators_running(data_dir: Path, persons: int = 200) -> Iterator[dict]:
    """The simulators as a separate process (``python -m simulators up``), at zero latency."""
    cmd = [sys.executable, "-m", "simulators"]
    subprocess.run(
        [*cmd, "up", "--data-dir", str(data_dir), "--persons", str(persons)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        endpoints = json.loads((data_dir / "endpoints.json").read_text())
        zero = {s: {"*": {"latency": 0, "rate": 0.0}} for s in ("bureau", "core", "sftp")}
        requests.patch(
            endpoints["admin"]["url"] + "/controls", json=zero, timeout=10
        ).raise_for_status()
        yield endpoints
    finally:
        subprocess.run(
            [*cmd, "down", "--data-dir", str(data_dir)], check=True, capture_output=True, timeout=60
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")
