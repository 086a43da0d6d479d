"""The ``loanhub`` command: every command group, registered in this one place.

Each group lives in its own module with its own ``typer.Typer``; this module only puts them
together, so the CLI is the same however it is started (``loanhub``, ``python -m loanhub``,
``python -m loanhub.cli``): all three import this ``app``. It is not named ``app.py`` because
``loanhub.cli.app`` is the Typer object (the ``pyproject.toml`` entry point), and a module of
that name would be shadowed by it.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from loanhub.cli import (
    airflow_runs,
    archive,
    audit,
    blacklist,
    bot,
    calls,
    case,
    dashboard,
    db,
    endpoints,
    evidence,
    extract,
    files,
    identifiers,
    items,
    mapping,
    payments,
    pools,
    quarantine,
    retention,
    settle,
    sim,
)
from loanhub.cli.errors import HubGroup, one_line_logs, state
from loanhub.platform.files import owner_only_process
from loanhub.platform.masking import install_log_masking

# HubGroup: the one error handler (loanhub.cli.errors), around every command
app = typer.Typer(cls=HubGroup, help="loanhub: the credit integration hub.", no_args_is_help=True)

# Groups: ``loanhub <group> <command>``.
GROUPS: dict[str, typer.Typer] = {
    "db": db.app,
    "sim": sim.app,
    "extract": extract.app,
    "mapping": mapping.app,
    "audit": audit.app,
    "id": identifiers.app,
    "evidence": evidence.app,
    "bot": bot.app,
    "blacklist": blacklist.app,
    "dashboard-user": dashboard.users_app,
    "endpoints": endpoints.app,
    "calls": calls.app,
    "items": items.app,
    "payments": payments.app,
    "archive": archive.app,
    "retention": retention.app,
    "files": files.app,
    "quarantine": quarantine.app,
}
# Top-level commands (``harvest``, ``reviews``, ``airflow-pools``, ``dashboard``, ``settle``,
# ``case``).
COMMANDS: tuple[typer.Typer, ...] = (
    airflow_runs.app,
    pools.app,
    dashboard.app,
    settle.app,
    case.app,
)

for commands in COMMANDS:
    app.add_typer(commands)
for name, group in GROUPS.items():
    app.add_typer(group, name=name)


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback of an error (else: one line)")
    ] = False,
) -> None:
    """Before any command: files owner-only (umask 077), identifiers masked in every log line,
    and the hub's log format."""
    state.debug = debug
    owner_only_process()
    install_log_masking()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    one_line_logs()  # a logged exception is one line too (its traceback with --debug)
