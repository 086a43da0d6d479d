"""The one place the DAGs hand Airflow's Connections to the hub's runtime.

Every loanhub task runs ``use_airflow_connections`` before its callable (``on_execute_callback``
in ``defaults.default_args``, also on resuming from a deferral): from then on, the runtime
builds its connectors and bots from the ``loanhub_*`` Connections (any secrets backend), with
every secret registered with Airflow's masker. Nothing is read here: the Connections are looked
up when the runtime first needs them, at run time, never at parse time.
"""

from __future__ import annotations

from typing import Any


def use_airflow_connections(context: Any = None) -> None:
    """Install the Connections as the runtime's endpoints source (imports are lazy: a DAG
    file stays quick to parse)."""
    from loanhub.runtime.settings import use_endpoints
    from loanhub_provider.connections import connections_or_file

    use_endpoints(connections_or_file)
