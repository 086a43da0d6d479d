"""Shared fixtures: a fresh PostgreSQL database for the run, and embedded SQLite stores.

The PostgreSQL server is the one on 127.0.0.1:5432 (trust auth, user postgres); override with
LOANHUB_TEST_PG_ADMIN_URL. The database is created for this run and dropped after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from loanhub.db import make_engine, upgrade
from loanhub.masking import known_names
from schemas.tables import metadata

PG_ADMIN_URL = os.environ.get(
    "LOANHUB_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a database created for this test run (and dropped after it), migrated to head."""
    name = f"loanhub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url(name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET session_replication_role = replica"))  # audit trigger off
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(text("SET session_replication_role = origin"))
        else:
            for t in reversed(metadata.sorted_tables):
                conn.execute(t.delete())


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """The run's PostgreSQL store, emptied before each test."""
    engine = make_engine(pg_url)
    _truncate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh embedded store in a temporary directory, migrated to head."""
    engine = make_engine(f"sqlite:///{tmp_path / 'loanhub.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["pg", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Both stores the hub supports: production's PostgreSQL and the embedded SQLite."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(autouse=True)
def _forget_known_names() -> Iterator[None]:
    yield
    known_names.clear()
