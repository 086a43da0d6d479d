"""``loanhub airflow-pools``: the Airflow pools that cap the calls to each legacy system,
printed from the hub's settings so the deployment and the DAGs cannot disagree on them."""

from __future__ import annotations

import json

import typer

from loanhub.cli.common import settings

app = typer.Typer()  # a top-level command, merged into the root


@app.command("airflow-pools")
def airflow_pools() -> None:
    """The Airflow pools, one per legacy system, sized from settings
    (``LOANHUB_ORCHESTRATION__POOLS``), in the format ``airflow pools import`` reads."""
    pools = {
        name: {
            "slots": slots,
            "description": f"calls to {name} at once (loanhub settings)",
            "include_deferred": False,
        }
        for name, slots in settings().orchestration.pools.items()
    }
    typer.echo(json.dumps(pools, indent=2))
