"""Files only their owner reads: after a real flow, every file under the data directory is
0600 and every directory 0700; every hub process starts with umask 077; a store and WAL an
old install left 0644 are tightened when the hub opens them.

The flow runs with the umask a careless process has (022), so the walk proves that each
writer asks for owner-only modes itself, not only that the umask was right; a second run
with the hub's own start (``owner_only_process``) covers what no writer of ours makes.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from bots.evidence import ScreenEvidence
from kernel.files import open_private, private_dir, tighten
from loanhub.flows import repayments
from loanhub.platform.db import make_engine
from loanhub.platform.files import owner_only_process
from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_ENV = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-airflow-common"][
    "environment"
]


@pytest.fixture
def umask() -> Iterator[None]:
    """Whatever a test sets, the process's umask is given back afterwards."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def loose(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that is not the owner's only."""
    found = []
    for path in [root, *root.rglob("*")]:
        st = os.lstat(path)
        wanted = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) & ~wanted & 0o777:
            found.append(f"{oct(stat.S_IMODE(st.st_mode))} {path.relative_to(root.parent)}")
    return found


def known(sim_dataset):
    return next(p for p in sim_dataset.persons if p.known_to_bureau and p.accounts)


@pytest.mark.parametrize("start", ["forgotten umask 022", "the hub's start"])
def test_after_a_flow_every_file_under_var_is_the_owners_only(
    start, umask, sim, sim_dir, sim_dataset, chromium, tmp_path: Path, monkeypatch
):
    data = tmp_path / "var"
    if start == "the hub's start":
        owner_only_process(data)
    # the embedded store and its WAL: migrated, then written by the flows below
    hub = Hub(HubSettings(data_dir=data, sim_dir=sim_dir))
    with hub.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    # evidence of a SOAP exchange: the raw answer and the masked pair
    person = known(sim_dataset)
    report = hub.connectors.bureau.query(
        "personal", person.id_number, person.name, "01", "CNS-1", f"C{time.time_ns()}-files"
    )
    assert report.raw_sha256
    # kept files: the night's extract taken from the core's SFTP and kept by its hash
    loaded = repayments.ingest_extract(
        hub.engine,
        hub.connectors.extracts,
        hub.receipts,
        sim_dataset.business_date,
        data / "files" / "core",
        "test",
    )
    assert loaded is not None
    assert loaded.inserted > 0
    # a bot's screen evidence: screenshot and trace written by the browser's driver
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_content(f"<p>申请人 {person.name} {person.id_number}</p>")
        context.tracing.start_chunk()
        ScreenEvidence(hub.settings.screen_evidence_dir, mask_text).capture(
            page, context, kind="ss_history", key=person.id_number, reason="stopped"
        )
    finally:
        context.close()
    written = {"loanhub.db", "loanhub.db-wal", "evidence", "files"}
    if start == "the hub's start":
        # a task's log, made by Airflow as the compose stack configures it: Airflow's writer,
        # not ours, makes the folders above the log with the process's umask (the image's
        # entrypoint sets 077), the folder and the file with the configured modes
        for key in ("FILE_PERMISSIONS", "FOLDER_PERMISSIONS"):
            name = f"AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_{key}"
            monkeypatch.setenv(name, COMPOSE_ENV[name])
        monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(data / "logs"))
        from airflow.sdk.log import init_log_file

        log = init_log_file("dag_id=credit_harvest/run_id=r1/task_id=bureau/attempt=1.log")
        log.write_text("a task's log line\n")
        written.add("logs")

    assert written <= {p.relative_to(data).parts[0] for p in data.rglob("*") if p.is_file()}
    assert any(p.name == "trace.zip" for p in data.rglob("*"))
    assert any("masked" in p.parts for p in data.rglob("*") if p.is_file())
    assert loose(data) == []
    hub.engine.dispose()


def test_every_hub_process_starts_with_umask_077(umask, tmp_path: Path, monkeypatch):
    """The three starts of a hub process: the CLI's callback, the dashboard's app factory
    (standalone or in Airflow's API server), the task runtime (``Hub.here``)."""
    from typer.testing import CliRunner

    from loanhub.cli.root import app
    from loanhub.dashboard.app import create_app

    result = CliRunner().invoke(app, ["id", "check", "11010519491231002X"])
    assert result.exit_code in (0, 1), result.output
    assert current_umask() == 0o077, "the CLI"

    os.umask(0o022)
    create_app(HubSettings(data_dir=tmp_path / "dash"))
    assert current_umask() == 0o077, "the dashboard"

    os.umask(0o022)
    data = tmp_path / "old-var"
    data.mkdir(mode=0o755)
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(data))
    monkeypatch.setattr(Hub, "_current", None)
    Hub.here()
    assert current_umask() == 0o077, "the task runtime"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700  # an old install's var/ tightened


def test_an_old_installs_store_and_wal_are_tightened_when_the_hub_opens_them(umask, tmp_path: Path):
    store = tmp_path / "var" / "loanhub.db"
    store.parent.mkdir(mode=0o755)
    old = sqlite3.connect(store)  # an old install, umask 022, still open: its WAL stays
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE applicant (id_number TEXT)")
    old.execute("INSERT INTO applicant VALUES ('11010519491231002X')")
    old.commit()
    companions = [store, Path(f"{store}-wal"), Path(f"{store}-shm")]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in companions)
    engine = make_engine(f"sqlite:///{store}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM applicant")).scalar() == 1
        assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in companions} == {
            p.name: "0o600" for p in companions
        }
    finally:
        engine.dispose()
        old.close()


def test_a_new_store_is_made_owner_only_before_sqlite_opens_it(umask, tmp_path: Path):
    store = tmp_path / "new" / "deeper" / "loanhub.db"
    engine = make_engine(f"sqlite:///{store}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert loose(tmp_path / "new") == []
    engine.dispose()


def test_a_store_in_a_shared_directory_leaves_the_directory_alone(umask, tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    engine = make_engine(f"sqlite:///{shared / 'loanhub.db'}")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # not the hub's to tighten
    assert stat.S_IMODE((shared / "loanhub.db").stat().st_mode) == 0o600


def test_the_writers_refuse_a_symlink_and_tighten_an_old_file(umask, tmp_path: Path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    (tmp_path / "planted").symlink_to(target)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        open_private(tmp_path / "planted")
    old = tmp_path / "old"
    old.write_bytes(b"x")
    os.chmod(old, 0o644)
    with open_private(old) as out:
        out.write(b"y")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert not tighten(tmp_path / "planted")  # a symlink is never followed
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    made = private_dir(tmp_path / "a" / "b" / "c")
    assert loose(tmp_path / "a") == []
    assert made.is_dir()


def test_an_old_installs_evidence_is_tightened_when_the_hub_keeps_it_again(umask, tmp_path: Path):
    from connectors.evidence import EvidenceStore

    root = tmp_path / "evidence"
    first = EvidenceStore(root, mask_text)
    digest = first.put_raw(b"<answer>11010519491231002X</answer>")
    kept = root / "raw" / digest[:2] / digest
    for path in (root, root / "raw", kept.parent):
        os.chmod(path, 0o755)  # as an old install left them
    os.chmod(kept, 0o644)
    again = EvidenceStore(root, mask_text)
    assert again.put_raw(b"<answer>11010519491231002X</answer>") == digest
    assert loose(root / "raw") == []
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
