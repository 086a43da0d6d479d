"""DAG hygiene: the DagBag imports clean, every DAG declares owner, tags, retries and docs,
and a DAG file imports fast with no I/O (sockets blocked while it imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if p.name != "__init__.py")

# a retried review would ask credit ops the same question twice
NO_RETRY_BY_DESIGN = {
    ("credit_decision", "credit_ops_review"),
    ("repayment_sync", "extract_accepted"),  # a rejected file stays rejected: no retry helps
}

PROBE = """
import socket, sys, time
import airflow.sdk  # Airflow itself is loaded once per parser process; we time our file
def refuse(*args, **kwargs):
    raise RuntimeError("network I/O at parse time")
socket.socket.connect = refuse
socket.create_connection = refuse
start = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("probe_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - start)
"""


def test_the_dagbag_has_no_import_errors_and_every_dag_is_documented(airflow_env):
    script = f"""
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(ROOT / "dags")!r})
print(json.dumps({{
    "errors": {{k: str(v)[:300] for k, v in bag.import_errors.items()}},
    "dags": {{
        d.dag_id: {{
            "owners": sorted({{t.owner for t in d.tasks}}),
            "tags": sorted(d.tags),
            "doc": bool(d.doc_md),
            "no_retries": sorted(t.task_id for t in d.tasks if not t.retries),
        }} for d in bag.dags.values()
    }},
}}))
"""
    import json

    out = subprocess.run(
        [sys.executable, "-c", script],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert set(report["dags"]) >= {"credit_harvest", "credit_decision"}
    for dag_id, info in report["dags"].items():
        assert info["owners"] == ["credit-integration"], dag_id
        assert "loanhub" in info["tags"], dag_id
        assert info["doc"], dag_id
        allowed = sorted(task for dag, task in NO_RETRY_BY_DESIGN if dag == dag_id)
        assert info["no_retries"] == allowed, dag_id


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_a_dag_file_imports_in_under_half_a_second_without_network(path, airflow_env):
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip().splitlines()[-1]) < 0.5


def test_ruff_airflow_rules_are_clean():
    run = subprocess.run(
        [
            Path(sys.executable).with_name("ruff"),
            "check",
            "--preview",
            "--select",
            "AIR",
            str(ROOT / "dags"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout
