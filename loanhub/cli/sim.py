"""``loanhub sim``: start, inspect and stop the legacy-system simulators.

The simulators run as their own program (``python -m simulators``): the hub never imports
them, so these commands only hand over the data folder and report the program's exit code.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from loanhub.cli.common import settings

app = typer.Typer(help="The legacy-system simulators (a separate process).", no_args_is_help=True)


def _simulators(command: str, *extra: str) -> None:
    args = [
        sys.executable,
        "-m",
        "simulators",
        command,
        "--data-dir",
        str(settings().simulators_dir),
        *extra,
    ]
    raise typer.Exit(subprocess.run(args, check=False).returncode)


@app.command("up")
def sim_up(
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="seed of the simulated world")
    ] = 20261124,
    persons: Annotated[int, typer.Option(min=0, max=100_000, help="number of persons")] = 200,
    enterprises: Annotated[
        int, typer.Option(min=0, max=100_000, help="number of enterprises")
    ] = 40,
) -> None:
    """Start every simulator on loopback; write the endpoints file and, beside it, their
    Airflow Connections (connections.json, airflow.env)."""
    _simulators(
        "up", "--seed", str(seed), "--persons", str(persons), "--enterprises", str(enterprises)
    )


@app.command("status")
def sim_status() -> None:
    """Print the simulators' endpoints; exit 1 when they are down."""
    _simulators("status")


@app.command("down")
def sim_down() -> None:
    """Stop the simulators."""
    _simulators("down")
