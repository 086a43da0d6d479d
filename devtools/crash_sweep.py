"""The crash-point sweep: a disbursement and an LOS posting killed at every crash point,
``--trials`` times each, then settled by the next run as the DAGs settle them.

``python -m devtools.crash_sweep [--trials 20]`` (``make crash-sweep``) runs
``devtools.crash_sweep_payments`` and ``devtools.crash_sweep_los`` one after the other (each
starts its own simulators and scratch PostgreSQL store, and leaves nothing running) and prints
the figures that must all be 0, from the simulators' own journals:

- tranches paid twice, tranches lost, tranches paid but recorded rejected;
- decisions posted twice;
- items left stuck with nobody to settle them (payments and LOS postings).

Exit 1 when any of them is not 0. The suite runs a one-trial sample of a few points
(``tests/devtools/test_crash_sweep.py``); the full sweep takes about 15 minutes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from devtools import crash_sweep_los, crash_sweep_payments


def figures(payments: dict[str, Any], los: dict[str, Any]) -> dict[str, int]:
    """The five figures the sweep is judged by."""
    counts = payments["counts"]
    return {
        "tranches paid twice": counts["tranches paid twice"],
        "tranches lost": counts["tranches lost"],
        "paid but recorded rejected": counts["paid but recorded rejected"],
        "decisions posted twice": los["posted_twice"],
        "items left stuck with nobody to settle them": (
            counts["items left stuck with nobody to settle them"] + los["stuck"]
        ),
    }


def run(
    trials: int,
    payment_points: list[str] | None = None,
    los_points: list[str] | None = None,
) -> tuple[dict[str, int], dict[str, Any]]:
    payments = crash_sweep_payments.sweep(trials, payment_points)
    los = crash_sweep_los.sweep(trials, los_points)
    counts = payments["counts"]
    detail = {
        "payment trials": counts["trials"],
        "payment kills": counts["killed"],
        "payment crash points not reached": counts["crash point not reached"],
        "files left in the gateway's inbox": counts["files left in the gateway's inbox"],
        "reconcile mismatches": counts["reconcile mismatches"],
        "los points": sorted(los["points"]),
    }
    return figures(payments, los), detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.crash_sweep")
    parser.add_argument("--trials", type=int, default=20, help="kills per crash point")
    args = parser.parse_args(argv)
    found, detail = run(args.trials)
    for name, value in detail.items():
        print(f"{name:48} {value}")
    print("-" * 56)
    for name, value in found.items():
        print(f"{name:48} {value}")
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
