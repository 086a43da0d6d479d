"""What every benchmark shares: the result row, a timer and a scratch PostgreSQL database."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import psycopg

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

    @property
    def ratio(self) -> float:
        return self.ours / self.reference

    def as_json(self) -> dict[str, float | str]:
        data = asdict(self)
        del data["name"]
        return {"ratio": round(self.ratio, 3), **data}


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
