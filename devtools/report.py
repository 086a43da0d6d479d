"""The lifecycle summary: what a run of the credit DAGs produced, read from the store, as a
table for the terminal and an HTML page with charts (inline SVG, no front-end build).

Everything shown is counted from the canonical store, never from the run's own bookkeeping, so
the report is also a check of what was stored. Nothing personal appears in it. The charts are
the dashboard's (``loanhub.dashboard.charts``), so both draw bars one way.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from loanhub.dashboard import charts
from schemas.tables import (
    application,
    decision,
    disbursement,
    early_warning,
    quarantined_record,
    work_item,
)

CHART_STYLE = (
    ".chart text{font-size:12px;fill:#1c2b33}"
    ".chart text.value,.chart text.empty{fill:#5f6f78}.chart text.empty{font-style:italic}"
)
"""What the dashboard's stylesheet gives its charts' text (``templates/base.html``)."""


@dataclass
class Summary:
    applications: dict[str, int] = field(default_factory=dict)
    decided_by: dict[str, int] = field(default_factory=dict)
    disbursed_amount: Decimal = Decimal("0")
    payments: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    warnings_mailed: int = 0
    quarantined: int = 0
    work_items: dict[str, int] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step


def _grouped(engine: Engine, column, table) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(column, func.count()).select_from(table).group_by(column))
        return {str(k): int(v) for k, v in rows}


def _by_who(kinds: Iterable[Any]) -> dict[str, int]:
    """Decisions by rule or by a person (``decided_by`` is ``rule:<id>`` or a user)."""
    out: dict[str, int] = {}
    for prefix, count in kinds:
        who = "rule" if prefix == "rule:" else "credit ops"
        out[who] = out.get(who, 0) + int(count)
    return out


def summarise(engine: Engine, steps: dict[str, float] | None = None) -> Summary:
    by_rule = select(
        func.coalesce(func.substr(decision.c.decided_by, 1, 5), "").label("kind")
    ).subquery()
    with engine.connect() as conn:
        kinds = conn.execute(select(by_rule.c.kind, func.count()).group_by(by_rule.c.kind)).all()
        amount = conn.execute(
            select(func.coalesce(func.sum(disbursement.c.amount), 0)).where(
                disbursement.c.status == "ACSC"
            )
        ).scalar_one()
        mailed = conn.execute(
            select(func.count()).where(early_warning.c.notified_at.is_not(None))
        ).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(quarantined_record)).scalar()
    return Summary(
        applications=_grouped(engine, application.c.status, application),
        decided_by=_by_who(kinds),
        disbursed_amount=Decimal(amount),
        payments=_grouped(engine, disbursement.c.status, disbursement),
        warnings=_grouped(engine, early_warning.c.rule, early_warning),
        warnings_mailed=int(mailed),
        quarantined=int(quarantined or 0),
        work_items=_grouped(engine, work_item.c.state, work_item),
        steps=dict(steps or {}),
    )


def _bars(title: str, data: Mapping[str, float], unit: str = "") -> str:
    """One of the dashboard's bar charts (the same drawing, escaping and accessible titles),
    largest first, under a heading of its own."""
    rows = sorted(data.items(), key=lambda kv: -kv[1])
    return f"<h2>{html.escape(title)}</h2>{charts.hbar(title, rows, unit=unit)}"


def _table(rows: Iterable[tuple[str, object]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def render_html(summary: Summary, title: str = "loanhub lifecycle run") -> str:
    drawn = [
        _bars("Applications by outcome", summary.applications),
        _bars("Decided by", summary.decided_by),
        _bars("Warnings by rule", summary.warnings),
        _bars("Time per step", summary.steps, " s"),
        _bars("Work items by state", summary.work_items),
    ]
    facts = _table(
        [
            ("amount disbursed (settled)", f"{summary.disbursed_amount:,.2f} CNY"),
            ("payments by status", summary.payments),
            ("warnings mailed", summary.warnings_mailed),
            ("records quarantined", summary.quarantined),
            ("time taken", f"{sum(summary.steps.values()):.1f} s"),
        ]
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:24px;"
        "max-width:1100px}th{text-align:left;padding:4px 12px 4px 0}td{padding:4px 0}"
        f"h2{{font-size:15px;margin:24px 0 4px}}svg{{display:block}}{CHART_STYLE}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{facts}{''.join(drawn)}</body></html>"
    )


def write_html(summary: Summary, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(summary), encoding="utf-8")
    return path
