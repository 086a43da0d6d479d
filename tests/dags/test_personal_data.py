"""No personal data in Airflow's metadata database after an end-to-end credit run.

Airflow's metadata DB is read by everyone who can open the UI or the REST API (XComs, rendered
fields, "Required actions"), is backed up with the cluster and has none of the store's masking.
So the hub hands Airflow application numbers, counts and masked summaries only. This test runs
the smallest credit slice that produces a referral (harvest, then decision with the human
review answered by the scripted credit-ops user) and then reads every place Airflow keeps what
tasks gave it: XCom values, rendered template fields, the human-review records (subject, body,
options, params, answers), task-instance and DAG-run notes, DAG-run conf, deferred tasks'
kwargs and triggers. No seeded resident ID, bank or credit card number, mobile number, or full
name of an applicant of the run may appear there; masked forms (``1****************X``,
``138****5678``, ``张*``) are fine.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, select, text

from devtools.synthetic import los_intake
from loanhub.flows.intake import load_applicants
from schemas.tables import decision
from tests.dags.test_credit_e2e import run_dag

# (table, columns): where Airflow keeps what tasks, triggers and people gave it
PLACES: dict[str, tuple[str, ...]] = {
    "xcom": ("value",),
    "rendered_task_instance_fields": ("rendered_fields", "k8s_pod_yaml"),
    "hitl_detail": (
        "subject",
        "body",
        "options",
        "defaults",
        "params",
        "params_input",
        "chosen_options",
        "responded_by",
    ),
    "task_instance_note": ("content",),
    "dag_run_note": ("content",),
    "dag_run": ("conf",),
    "task_instance": ("next_kwargs", "rendered_map_index"),
    "trigger": ("kwargs",),
}

WHERE = ("dag_id", "task_id", "map_index", "key", "ti_id")
"""The columns that say which task a hit came from, where a table has them."""


def _texts(value: Any) -> Iterator[str]:
    """Every string inside a stored value, JSON decoded where it is JSON: XCom and HITL
    columns hold JSON whose non-ASCII text is ``\\uXXXX``-escaped, so a name would not be
    found in the raw column."""
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        yield value
        try:
            decoded = json.loads(value)
        except ValueError:
            return
        if not isinstance(decoded, str):
            yield from _texts(decoded)
        else:
            yield decoded
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _texts(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _texts(v)
    else:
        yield str(value)


def _needles(dataset: Any, application_nos: list[str]) -> dict[str, re.Pattern[str]]:
    """What must not appear: every seeded person's resident ID and mobile, every bank and
    credit card number, and the full names of the run's applicants (names are short enough to
    be matched by chance elsewhere, so only those Airflow could have been handed)."""
    needles: dict[str, re.Pattern[str]] = {}

    def digits(kind: str, value: str) -> None:
        # bounded by non-alphanumerics, so a longer number that merely contains it is no hit
        needles[f"{kind} {value}"] = re.compile(
            rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])"
        )

    for person in dataset.persons:
        digits("resident id", person.id_number)
        digits("mobile", person.mobile)
        for account in person.accounts:
            if account.type == "CREDIT_CARD":
                digits("credit card", account.account_no)
    for customer in dataset.customers:
        for account in customer.accounts:
            if account.type == "deposit":
                digits("bank card", account.account_no)
    run = [a for a in dataset.applications if a.application_no in application_nos]
    for application in run:
        names = {application.applicant_name}
        person = dataset.person_by_id.get(application.id_number)
        if person is not None:
            names.add(person.name)
        for name in names:
            needles[f"name {name}"] = re.compile(re.escape(name))
    return needles


def scan(airflow_db_url: str, needles: dict[str, re.Pattern[str]]) -> list[str]:
    """Every hit, as ``table.column[row]: what``; also says which places it could read."""
    engine = create_engine(airflow_db_url)
    hits: list[str] = []
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            for table, columns in PLACES.items():
                assert table in tables, f"Airflow has no table {table!r} any more: update PLACES"
                present = {c["name"] for c in inspect(engine).get_columns(table)}
                for column in columns:
                    if column not in present:
                        continue
                    where = [c for c in WHERE if c in present]
                    selected = ", ".join(f'"{c}"' for c in [column, *where])
                    rows = conn.execute(text(f'SELECT {selected} FROM "{table}"')).all()
                    for n, (value, *ids) in enumerate(rows):
                        blob = "\n".join(_texts(value))
                        origin = " ".join(f"{c}={v}" for c, v in zip(where, ids, strict=True))
                        hits.extend(
                            f"{table}.{column}[{n}]: {what}" + (f" ({origin})" if origin else "")
                            for what, pattern in needles.items()
                            if pattern.search(blob)
                        )
    finally:
        engine.dispose()
    return hits


def test_nothing_personal_reaches_airflow_after_a_credit_run(
    airflow_env, sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    # the smallest seeded slice whose decision run refers at least one application to a person
    apps = sim_dataset.applications[40:43]
    records = los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC))
    load_applicants(pg_engine, records, source_ref="los-list")
    numbers = [a.application_no for a in apps]
    env = {
        **airflow_env,
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_SIM_DIR": str(sim_dir),
        "LOANHUB_DATA_DIR": str(tmp_path),
    }
    run_dag(env, "credit_harvest", {"application_nos": numbers, "batch_size": 3})
    credit_ops = subprocess.Popen(
        [sys.executable, "-m", "devtools.credit_ops", "--approve-from", "50"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_dag(
            env, "credit_decision", {"application_nos": numbers, "requested_by": "credit_manager"}
        )
    finally:
        credit_ops.terminate()
        credit_ops.communicate(timeout=30)
    with pg_engine.connect() as conn:
        deciders = list(conn.execute(select(decision.c.decided_by)).scalars())
    assert any(not d.startswith("rule:") for d in deciders), deciders  # a person reviewed one

    airflow_db = f"sqlite:///{Path(airflow_env['AIRFLOW_HOME']) / 'airflow.db'}"
    engine = create_engine(airflow_db)
    with engine.connect() as conn:
        reviews = conn.execute(text("SELECT count(*) FROM hitl_detail")).scalar_one()
        xcoms = conn.execute(text("SELECT count(*) FROM xcom")).scalar_one()
    engine.dispose()
    assert reviews  # the scan below reads something
    assert xcoms

    hits = scan(airflow_db, _needles(sim_dataset, numbers))
    assert not hits, "personal data in Airflow's metadata DB:\n" + "\n".join(hits)


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scan itself can fail: a resident ID and a name written as Airflow writes JSON
    (escaped) are found; their masked forms are not."""
    url = f"sqlite:///{tmp_path / 'airflow.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        for table, columns in PLACES.items():
            conn.execute(text(f'CREATE TABLE "{table}" ({", ".join(columns)})'))
        conn.execute(
            text("INSERT INTO xcom (value) VALUES (:v)"),
            [
                {"v": json.dumps({"subject": "110105196109179113"})},
                {"v": json.dumps({"name": "李艳桂"})},  # ensure_ascii: \u674e\u8273\u6842
                {"v": json.dumps({"masked": "1****************3", "name": "李*"})},
                {"v": json.dumps({"longer": "91110105196109179113"})},
            ],
        )
    engine.dispose()
    needles = {
        "resident id": re.compile(r"(?<![0-9A-Za-z])110105196109179113(?![0-9A-Za-z])"),
        "name": re.compile("李艳桂"),
    }
    assert scan(url, needles) == ["xcom.value[0]: resident id", "xcom.value[1]: name"]
