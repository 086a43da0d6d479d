"""Work-item ledger: claim + complete per second, against the bare transactions it needs.

Reference: psycopg doing the same two committed round trips per item (an INSERT, then an
UPDATE) with no ledger logic, no audit chain and no ORM layer. The ratio is what claiming
through the ledger (row lock, payload hash, audit event per transition) costs.
"""

from __future__ import annotations

import psycopg

from bench.common import Result, rate, scratch_database
from loanhub.platform.db import make_engine, upgrade
from loanhub.platform.ledger import WorkItemLedger

ITEMS = 1000


def run() -> list[Result]:
    with scratch_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        ledger = WorkItemLedger(engine, owner="bench")

        def through_ledger() -> None:
            for n in range(ITEMS):
                item = ledger.claim("payment", f"LN{n:08d}:1", {"amount": "1000.00", "n": n})
                ledger.complete(item, {"msg_id": f"M{n}"})

        ours = rate(ITEMS, through_ledger)
        engine.dispose()

        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE ref_item (k text primary key, state text, result text)")
            conn.commit()

            def bare() -> None:
                for n in range(ITEMS):
                    conn.execute(
                        "INSERT INTO ref_item VALUES (%s, 'IN_PROGRESS', NULL)", (f"LN{n:08d}:1",)
                    )
                    conn.commit()
                    conn.execute(
                        "UPDATE ref_item SET state = 'DONE', result = %s WHERE k = %s",
                        (f"M{n}", f"LN{n:08d}:1"),
                    )
                    conn.commit()

            reference = rate(ITEMS, bare)
    return [
        Result(
            "ledger_claim_complete_vs_bare_transactions",
            ours,
            reference,
            "items/s",
            "psycopg INSERT+COMMIT, UPDATE+COMMIT per item",
        )
    ]
