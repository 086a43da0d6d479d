"""The DAG tests share the Airflow home of ``tests/conftest.py`` (``airflow_env``): its own
metadata DB, the hub's pools, and the environment every ``airflow`` and ``dag.test()`` process
of the tests runs with."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
