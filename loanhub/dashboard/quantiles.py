"""Percentiles the database computes, the same on PostgreSQL and SQLite.

SQLite has no ``percentile_cont``; both have window functions. Each value is ranked inside
its group (``row_number``) beside the group's size (``count(*) OVER``), and the grouped query
keeps only the two values either side of the percentile's rank, so one row per group leaves
the database however many rows the group holds. The interpolation between those two is
PostgreSQL's ``percentile_cont``: rank (n - 1) * q, linear between its neighbours.

Ranks are integer arithmetic in per-mille (q = 0.95 is 950), which both databases truncate
the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Integer, Select, Subquery, case, func, select
from sqlalchemy.sql.expression import literal_column


def _per_mille(q: float) -> int:
    k = round(q * 1000)
    if not 0 <= k <= 1000:
        raise ValueError(f"a percentile is between 0 and 1, not {q}")
    return k


@dataclass(frozen=True)
class Ranked:
    """``source``'s rows with ``rank_in_group`` (0-based, by ``value``) and ``group_size``
    (the group's row count) added; group by ``group`` and select ``percentile_columns``."""

    table: Subquery
    value: str

    @classmethod
    def of(cls, source: FromClause, group: Sequence[str], value: str) -> Ranked:
        parts = [source.c[g] for g in group]
        ranked = select(
            *source.c,
            (func.row_number().over(partition_by=parts, order_by=source.c[value]) - 1).label(
                "rank_in_group"
            ),
            func.count().over(partition_by=parts).label("group_size"),
        ).subquery("ranked")
        return cls(ranked, value)

    @property
    def c(self) -> Any:
        return self.table.c

    def percentile_columns(self, qs: Iterable[float]) -> list[ColumnElement[Any]]:
        """Per percentile the value at its rank and the one after (null past the last)."""
        out: list[ColumnElement[Any]] = []
        c = self.table.c
        for q in qs:
            k = _per_mille(q)
            low = ((c.group_size - 1) * literal_column(str(k), Integer())) // literal_column(
                "1000", Integer()
            )
            out.append(func.max(case((c.rank_in_group == low, c[self.value]))).label(f"p{k}_low"))
            out.append(
                func.max(case((c.rank_in_group == low + 1, c[self.value]))).label(f"p{k}_high")
            )
        return out

    def grouped(self, group: Sequence[str], qs: Iterable[float], *more: Any) -> Select[Any]:
        """One row per group: its columns, the size, ``more`` aggregates, then the
        percentiles' neighbours (read them back with ``percentile``)."""
        keys = [self.table.c[g] for g in group]
        return select(
            *keys,
            func.max(self.table.c.group_size).label("group_size"),
            *more,
            *self.percentile_columns(qs),
        ).group_by(*keys)


def percentile(row: Any, q: float) -> float | None:
    """The q-th percentile of a row of ``Ranked.grouped``, interpolated as percentile_cont."""
    size = row.group_size
    if not size:
        return None
    k = _per_mille(q)
    mapping = row._mapping
    low, high = mapping[f"p{k}_low"], mapping[f"p{k}_high"]
    if low is None:
        return None
    fraction = ((size - 1) * k % 1000) / 1000
    if high is None or fraction == 0:
        return float(low)
    return float(low) + (float(high) - float(low)) * fraction
