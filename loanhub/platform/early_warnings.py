"""The one write path of early warnings: stored once by key, and counted as raised.

Warnings are raised by the nightly load (a rejected file), its reconciliation and the rules
after it; each goes through ``raise_once`` so that "raised" means the same everywhere and the
running total behind ``loanhub_warnings_raised_total`` grows in the transaction that stores
the warning (a later purge of old warnings leaves the count alone).
"""

from __future__ import annotations

from sqlalchemy import Connection

from loanhub.platform import totals
from loanhub.platform.db import insert_or_ignore
from schemas.lending import EarlyWarning
from schemas.tables import early_warning, fact_row

RAISED = "warnings_raised"
"""The running total of warnings raised, per rule and severity."""


def raise_once(conn: Connection, warning: EarlyWarning) -> bool:
    """Store ``warning`` inside ``conn``'s transaction unless its key is stored already;
    True when it is new (and then counted)."""
    new = (
        conn.execute(
            insert_or_ignore(conn, early_warning)
            .values(fact_row(warning))
            .returning(early_warning.c.id)
        ).scalar_one_or_none()
        is not None
    )
    if new:
        severity = getattr(warning.severity, "value", warning.severity)
        totals.add(conn, {totals.key(RAISED, rule=warning.rule, severity=str(severity)): 1})
    return new
