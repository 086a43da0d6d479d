"""Every hub process starts owner-only: umask 077, and the data directory 0700.

Called once at the start of each process of the hub: the ``loanhub`` CLI's callback, the
dashboard's app factory (standalone or inside Airflow's API server) and the task runtime
(``loanhub.runtime.tasks.Hub.here``, what every DAG task of the hub starts with). The umask
covers what the hub does not write itself (SQLite's journal files, Playwright's traces,
alembic, a library's temporary file); the writers also ask for owner-only modes themselves
(``kernel.files``). The simulators are not the hub and keep their own modes.
"""

from __future__ import annotations

import os
from pathlib import Path

from kernel.files import OWNER_ONLY_UMASK, tighten

__all__ = ["OWNER_ONLY_UMASK", "owner_only_process"]


def owner_only_process(data_dir: Path | None = None) -> int:
    """Set the process's umask to 077 and, given the hub's data directory, tighten it to 0700
    if it is there (an old install made it 0755; one not made yet is made 0700 by its first
    writer). Returns the umask it replaced. Idempotent."""
    previous = os.umask(OWNER_ONLY_UMASK)
    if data_dir is not None:
        tighten(data_dir)
    return previous
