"""Throw-away infrastructure for runs outside the test suite (benchmarks, the distributed
run): a scratch PostgreSQL database and the simulators in a directory of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests

PG_ADMIN_URL = os.environ.get(
    "LOANHUB_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A PostgreSQL database that exists for the duration of one run (dropped after it)."""
    name = f"loanhub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def take_applications(endpoints: dict, hub_url: str, count: int) -> list[str]:
    """The simulated LOS's first ``count`` waiting applications, taken into the store at
    ``hub_url`` (with their consents) as the day's intake; returns their numbers."""
    from devtools.los_list import take_waiting
    from loanhub.platform.db import open_store
    from loanhub.runtime.settings import HubSettings

    engine = open_store(hub_url)
    settings = HubSettings(sim_dir=Path(endpoints["data_dir"]), database_url=hub_url)
    numbers, _ = take_waiting(settings, engine, count)
    engine.dispose()
    assert len(numbers) == count, f"only {len(numbers)} applications in the data set"
    return numbers


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
