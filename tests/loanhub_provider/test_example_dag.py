"""The example DAG in the docs runs: a bureau report fetched with the hook alone, against the
simulators, its connection given as ``AIRFLOW_CONN_LOANHUB_BUREAU`` (``dag.test()``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.loanhub_provider.conftest import env_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "bureau_report_dag.py"
RUN = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("example_bureau_report", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
run = module.DAG.test(run_conf=json.loads(sys.argv[2]))
print("STATE", run.state)
"""


def test_the_example_dag_fetches_a_report_with_the_bureau_hook_alone(
    airflow_env: dict, sim_connections: dict, sim_dataset, sim, tmp_path: Path
) -> None:
    person = [p for p in sim_dataset.persons if p.known_to_bureau and p.accounts][-1]
    conf = {
        "id_number": person.id_number,
        "name": person.name,
        "consent_ref": "CONSENT-EXAMPLE-1",
        "evidence_dir": str(tmp_path / "evidence"),
    }
    env = {k: v for k, v in airflow_env.items() if not k.startswith(("AIRFLOW_CONN_", "LOANHUB_"))}
    env |= env_of({"loanhub_bureau": sim_connections["loanhub_bureau"]})  # that one alone
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE.parent)  # dag.test() parses it from there
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(EXAMPLE), json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "STATE success" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    queries = [
        j for j in sim.journal("bureau", "query") if str(j.get("request_ref", "")).startswith("EX-")
    ]
    assert len(queries) == 1, queries
    assert [p.name for p in (tmp_path / "evidence").rglob("*") if p.is_file()]  # the raw report
    assert sim_connections["loanhub_bureau"]["password"] not in done.stdout + done.stderr
