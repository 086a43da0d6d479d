"""The lifecycle summary: what a run of the credit DAGs produced, read from the store, as a
table for the terminal and an HTML page with charts (SVG drawn here, no front-end build).

Everything shown is counted from the canonical store, never from the run's own bookkeeping, so
the report is also a check of what was stored. Nothing personal appears in it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from schemas.tables import (
    application,
    decision,
    disbursement,
    early_warning,
    quarantined_record,
    work_item,
)


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


def bar_chart(title: str, data: dict[str, float], unit: str = "") -> str:
    """A horizontal bar chart as inline SVG."""
    items = sorted(data.items(), key=lambda kv: -kv[1]) or [("none", 0.0)]
    top = max(v for _, v in items) or 1
    row, label_w, bar_w = 26, 190, 420
    bars = []
    for n, (label, value) in enumerate(items):
        y = 30 + n * row
        width = max(1.0, bar_w * value / top)
        shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
        bars.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{row - 8}" fill="#36c" '
            f'rx="3"/><text x="{label_w + width + 6:.1f}" y="{y + 15}">{shown}{unit}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 120}" '
        f'height="{34 + row * len(items)}" font-family="sans-serif" font-size="13" role="img" '
        f'aria-label="{html.escape(title)}"><text x="4" y="18" font-weight="bold">'
        f"{html.escape(title)}</text>{''.join(bars)}</svg>"
    )


def _counts(data: dict[str, int]) -> dict[str, float]:
    return {k: float(v) for k, v in data.items()}


def _table(rows: Iterable[tuple[str, object]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def render_html(summary: Summary, title: str = "loanhub lifecycle run") -> str:
    charts = [
        bar_chart(
            "Applications by outcome", {k: float(v) for k, v in summary.applications.items()}
        ),
        bar_chart("Decided by", {k: float(v) for k, v in summary.decided_by.items()}),
        bar_chart("Warnings by rule", {k: float(v) for k, v in summary.warnings.items()}),
        bar_chart("Time per step", summary.steps, " s"),
        bar_chart("Work items by state", {k: float(v) for k, v in summary.work_items.items()}),
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
        "svg{display:block;margin:18px 0}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{facts}{''.join(charts)}</body></html>"
    )


def write_html(summary: Summary, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(summary), encoding="utf-8")
    return path
