"""Run one DAG in-process with ``dag.test()`` (no scheduler), as the demo and the end-to-end
tests do: ``python -m devtools.run DAG_ID '{"conf": ...}'``; exit 0 when the run succeeded.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from airflow.sdk import DAG

from devtools.sim_connections import sim_connection_env


def run(dag_id: str, conf: dict) -> str:
    os.environ.update(sim_connection_env())  # the deferred waits read loanhub_sftp
    module = importlib.import_module(f"dags.{dag_id}")
    dag = next(v for v in vars(module).values() if isinstance(v, DAG) and v.dag_id == dag_id)
    # dag.test() runs a DAG that was never serialized, and Airflow 3.3.2's run loop looks its
    # deadline alerts up by the ids serialization gives them (a dict has no .hex): in-process
    # runs go without them. The scheduler keeps them (tests/dags/test_notices.py misses one).
    dag.deadline = None
    result = dag.test(run_conf=conf)
    return str(result.state)


def main() -> int:
    dag_id = sys.argv[1]
    conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    state = run(dag_id, conf)
    print(f"{dag_id}: {state}", flush=True)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
