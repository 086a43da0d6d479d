"""Running totals: the counters ``/metrics`` exposes, kept so that no purge ever lowers them.

Prometheus counters must only go up. Counting rows at scrape made them drop whenever rows
went away (``loanhub calls purge``, records taken out of quarantine, retention purges of
personal data), and a drop reads as a reset that ``increase()`` then hides or miscounts. So
each counter is a row of ``running_total``, added to **in the same transaction** that stores
what it counts: the row and its count commit or roll back together, and whatever deletes the
rows later (any purge, by anyone) leaves the count alone. The alternative, carrying totals
forward inside each purge, would have to be repeated correctly in every purge anyone writes.

The cost is one upsert per event in a transaction already open; concurrent writers of the
same counter wait for each other only for the rest of that (short) transaction, and keys are
written in one order (sorted) so two of them cannot deadlock on each other.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, select

from loanhub.platform.db import dialect_insert
from schemas.tables import running_total

Key = tuple[str, str]


def labels_key(labels: Mapping[str, str]) -> str:
    """A label set as stored: canonical JSON (sorted keys, no spaces), one row per set."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key(name: str, **labels: str) -> Key:
    return name, labels_key(labels)


def add(conn: Connection, increments: Mapping[Key, int] | Iterable[tuple[Key, int]]) -> None:
    """Add to the totals inside ``conn``'s transaction (zero and negative increments are
    dropped: a total never decreases)."""
    summed: Counter[Key] = Counter()
    for k, n in increments.items() if isinstance(increments, Mapping) else increments:
        summed[k] += n
    rows = [
        {"name": name, "labels": labels, "value": n}
        for (name, labels), n in sorted(summed.items())
        if n > 0
    ]
    if not rows:
        return
    statement = dialect_insert(conn, running_total).values(rows)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["name", "labels"],
            set_={"value": running_total.c.value + statement.excluded.value},
        )
    )


def read(conn: Connection, *names: str) -> dict[str, list[tuple[dict[str, str], int]]]:
    """The totals of the named counters: per counter, (labels, value) rows."""
    found: dict[str, list[tuple[dict[str, str], int]]] = {n: [] for n in names}
    for name, labels, value in conn.execute(
        select(running_total.c.name, running_total.c.labels, running_total.c.value)
        .where(running_total.c.name.in_(names))
        .order_by(running_total.c.name, running_total.c.labels)
    ):
        found[name].append((json.loads(labels), int(value)))
    return found
