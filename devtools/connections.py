"""The simulators' Airflow Connections for the development tools' Airflow processes.

``loanhub sim up`` writes ``airflow.env`` beside ``endpoints.json`` (simulators/connections.py):
one ``AIRFLOW_CONN_LOANHUB_<SYSTEM>='<json>'`` line per legacy system. The local cluster, the
distributed run, the demo's ``dag.test()`` processes and the DAG tests put those variables into
every Airflow process's environment, so the tasks find their credentials in Airflow (the
environment variables backend), as a bank's would in its secrets backend.
"""

from __future__ import annotations

import shlex
from pathlib import Path

AIRFLOW_ENV = "airflow.env"
CONNECTIONS = "connections.json"


def airflow_environment(sim_dir: Path) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables from the simulators' ``airflow.env``; one clear error when
    the simulators have not written it (they are not running)."""
    path = sim_dir / AIRFLOW_ENV
    if not path.exists():
        raise FileNotFoundError(
            f"no {path}: start the simulators (loanhub sim up; if an older run is up, "
            "loanhub sim down first)"
        )
    variables: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        (assignment,) = shlex.split(line)  # the shell's own quoting rules
        name, _, value = assignment.partition("=")
        if not name.startswith("AIRFLOW_CONN_"):
            raise ValueError(f"{path}: not a connection variable: {name}")
        variables[name] = value
    return variables
