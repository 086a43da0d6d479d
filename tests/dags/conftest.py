"""An Airflow 3 home for the DAG tests: its own metadata DB, the hub's pools, and the
environment every ``airflow`` and ``dag.test()`` process of the tests shares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    pools = home / "pools.json"
    pools.write_text(
        subprocess.run(
            [BIN / "loanhub", "airflow-pools"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    subprocess.run(
        [BIN / "airflow", "pools", "import", str(pools)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env
