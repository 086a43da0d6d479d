"""Masking reaches Airflow task logs: a real task run by Airflow 3 logs a resident ID."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

DAG = textwrap.dedent(
    """
    import logging
    from datetime import datetime

    import structlog
    from airflow.sdk import dag, task

    from loanhub.platform.masking import install_log_masking

    install_log_masking()


    @dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def masking_probe():
        @task(retries=0)
        def harvest():
            logging.getLogger("connectors.bureau").info("query for %s", "11010519491231002X")
            logging.getLogger("airflow.task").warning("mobile 13812345678 did not answer")
            structlog.get_logger("loanhub.bots").info("portal lookup", subject="110105194912310029")
            return "card 6222021234567890128"

        harvest()


    probe = masking_probe()

    if __name__ == "__main__":
        probe.test()
    """
)


def test_a_task_log_shows_only_masked_values(tmp_path: Path) -> None:
    dag_file = tmp_path / "dags" / "masking_probe.py"
    dag_file.parent.mkdir()
    dag_file.write_text(DAG)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_file.parent),
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
    }
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    run = subprocess.run(
        [sys.executable, dag_file], env=env, capture_output=True, text=True, timeout=300
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "query for 1****************X" in out
    assert "mobile 138****5678 did not answer" in out
    assert "1****************9" in out  # a structlog field
    assert "622202*********0128" in out  # Airflow's own "Returned value was" line
    for clear in ("11010519491231002X", "13812345678", "110105194912310029", "6222021234567890128"):
        assert clear not in out
