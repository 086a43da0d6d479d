"""What a regulator's export of the audit chain covers: a date range, or one application.

- **A date range** is the bank's days, from the first to the last inclusive, in the bank's time
  zone (a regulator asking for March means March in Beijing time). The export is every event
  from the first one that occurred on or after the first day to the last one before the day
  after the last: one unbroken piece of the chain, so its links are checked end to end.
- **An application** is every event that names it or one of its loans (the loan account, and so
  its tranches' EndToEndIds ``<loan>-T01``, and warnings ``rule:<loan>:...``), anywhere in the
  chain. They are not contiguous, so each event carries the link of the event after it, and the
  seal (an ``audit.exported`` event in the chain itself) names exactly the events exported.

The mechanics (reading, linking, sealing, the file) are ``loanhub.platform.audit_export``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from loanhub.platform.audit_export import ExportSummary, Selection, seq_window, write_export
from loanhub.platform.masking import mask_text
from schemas.tables import application, loan

APPLICATION_NO = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class ExportRefused(ValueError):
    """A scope that cannot be exported (an empty range, an application the hub never had)."""


def range_selection(engine: Engine, first: date, last: date, zone: ZoneInfo) -> Selection:
    """The events of the bank's days ``first`` to ``last`` (inclusive) as one window."""
    if last < first:
        raise ExportRefused(f"--to {last} is before --from {first}")
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    scope = {
        "kind": "range",
        "from": first.isoformat(),
        "to": last.isoformat(),
        "time_zone": zone.key,
    }
    window = seq_window(engine, start, end)
    if window is None:
        return Selection(scope)
    return Selection(scope, first_seq=window[0], last_seq=window[1])


def application_identifiers(engine: Engine, application_no: str) -> tuple[str, ...]:
    """The application's number and its loans' accounts: what its audit events name."""
    if not APPLICATION_NO.match(application_no):
        raise ExportRefused(f"{application_no!r} is not an application number")
    with engine.connect() as conn:
        known = conn.execute(
            select(application.c.application_no).where(
                application.c.application_no == application_no
            )
        ).first()
        loans = list(
            conn.execute(
                select(loan.c.loan_account)
                .where(loan.c.application_no == application_no)
                .order_by(loan.c.loan_account)
            ).scalars()
        )
    if known is None:
        raise ExportRefused(f"no application {application_no} in the store")
    names = [application_no, *loans]
    # the chain stores subjects masked: look for each name as the chain would have written it
    return tuple(dict.fromkeys([*names, *(mask_text(n) for n in names)]))


def application_selection(engine: Engine, application_no: str) -> Selection:
    identifiers = application_identifiers(engine, application_no)
    scope = {
        "kind": "application",
        "application": application_no,
        "identifiers": sorted(set(identifiers)),
    }
    return Selection(scope, identifiers=identifiers)


def export_range(
    engine: Engine, first: date, last: date, zone: ZoneInfo, out: Path, *, actor: str
) -> ExportSummary:
    return write_export(engine, range_selection(engine, first, last, zone), out, actor=actor)


def export_application(
    engine: Engine, application_no: str, out: Path, *, actor: str
) -> ExportSummary:
    return write_export(engine, application_selection(engine, application_no), out, actor=actor)
