"""``loanhub settle``, by hand, as an operator runs it: a real process against the simulators
and PostgreSQL, settling by reading the legacy systems and saying what became of each kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from loanhub.platform.ledger import WorkItemLedger
from schemas.tables import work_item

LOANHUB = Path(sys.executable).with_name("loanhub")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LOANHUB, "settle", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_an_inquiry_the_bureau_never_received_is_released_for_one_more_query(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path
):
    person = next(p for p in sim_dataset.persons if p.known_to_bureau)
    ledger = WorkItemLedger(pg_engine, owner="crashed-worker")
    item = ledger.claim(
        "bureau_query",
        f"APP-CLI:{person.id_number}:01",
        {
            "application_no": "APP-CLI",
            "subject": person.id_number,
            "reason": "01",
            "operation": "QueryPersonalReport",
        },
    )
    ledger.mark_in_doubt(item, "worker killed before its query left")
    env = {
        **os.environ,
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_SIM_DIR": str(sim_dir),
        "LOANHUB_DATA_DIR": str(tmp_path / "var"),
    }
    done = run(env, "bureau")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bureau: done 0, not_received 1, left 0" in done.stdout
    with pg_engine.connect() as conn:
        state = conn.execute(select(work_item.c.state, work_item.c.failure_kind)).one()
    assert tuple(state) == ("FAILED", "transient")
    assert sim.journal("bureau", "query") == []  # settling sent no inquiry
    again = run(env, "bureau")
    assert "bureau: done 0, not_received 0, left 0" in again.stdout


def test_a_system_that_does_not_answer_is_one_line_and_exit_1(pg_url, tmp_path):
    env = {
        **os.environ,
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_DATA_DIR": str(tmp_path / "var"),
        "LOANHUB_SIM_DIR": str(tmp_path / "no-simulators"),  # no endpoints file there
    }
    refused = run(env, "bureau")
    assert refused.returncode == 1
    assert "bureau: not settled:" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
