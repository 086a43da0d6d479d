"""Crash-point sweep of an LOS posting: kill the poster at each point, let the next run settle.

``python -m devtools.crash_sweep_los [--trials 20] [--points before_submit,after_commit,...]``
starts the simulators (a directory of its own) and a scratch PostgreSQL store, then for every
crash point and trial: stores a decision for a fresh application, runs the posting in a
subprocess with its own Chromium (``post``, below), SIGKILLs it (its whole process group) at
the point, and runs the next run here: ``settle_los_decisions`` then ``post_decisions``, as
often as it takes for the item to settle (bounded). From the LOS simulator's journal it prints
the decisions posted twice and the items left stuck with nobody to settle them; both must be
0 (exit status 1 otherwise). Everything it started is stopped and dropped at the end.

Crash points (each a deterministic signal in the LOS's journal, or a random moment):

- ``before_submit``: the approval form was opened (``view``): killed around the click;
- ``after_commit``: the LOS recorded the decision and holds its answer (``hold_seconds``): the
  worker never hears of a decision the LOS has;
- ``after_504``: the gateway answered 504 after the commit: killed while reading back;
- ``random``: at a random moment of the posting, from start-up to the ledger's write.

The posting worker's ledger lease is short (``LEASE`` seconds), so that the next run finds the
killed worker's claim expired and the ledger puts it IN_DOUBT, as it would after 15 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

POINTS: dict[str, dict[str, Any]] = {
    "before_submit": {"controls": {}, "signal": "view"},
    "after_commit": {"controls": {"/decide": {"hold_seconds": 2.0}}, "signal": "decision_held"},
    "after_504": {"controls": {"/decide": {"gateway_504_rate": 1.0}}, "signal": "gateway_504"},
    "random": {"controls": {}, "signal": None},
}
LEASE = 2.0  # seconds: the killed poster's claim expires this long after it was taken
QUIET = timedelta(seconds=1)  # the LOS commits within milliseconds here
AMOUNT = Decimal("100000.00")  # below the first LOS user's limit: no checker involved
FAST_LOS = {"los": {"*": {"latency": 0, "rate": 0.0, "gateway_504_rate": 0.0}}}


# -- one posting, as a worker process runs it --------------------------------------------------


def _bot(endpoints: dict[str, Any], evidence_dir: Path, navigation_timeout: float = 10.0) -> Any:
    from bots.browser import Chromium
    from bots.config import BrowserConfig, LosLogin, ScreenPolicy
    from bots.evidence import ScreenEvidence
    from bots.los.bot import LosBot
    from kernel.failures import RetryPolicy
    from loanhub.platform.masking import mask_text

    chromium = Chromium(
        BrowserConfig(action_timeout=5, navigation_timeout=navigation_timeout, trace=False)
    )
    login = LosLogin.model_validate(endpoints["los"])  # the robot
    policy = ScreenPolicy(busy=RetryPolicy(attempts=4, base_seconds=0.1, cap_seconds=0.5))
    return LosBot(login, chromium, ScreenEvidence(evidence_dir, mask_text), mask_text, policy)


def post(database_url: str, sim_dir: Path, numbers: list[str], lease: float = LEASE) -> dict:
    """Post the stored decisions of ``numbers`` as ``credit_decision``'s task does, with a
    ledger lease of ``lease`` seconds; what a killed worker was running."""
    from loanhub.flows.decide import post_decisions
    from loanhub.platform.db import make_engine
    from loanhub.platform.guards import LedgerGuard
    from loanhub.platform.ledger import WorkItemLedger

    endpoints = json.loads((sim_dir / "endpoints.json").read_text())
    engine = make_engine(database_url)
    bot = _bot(endpoints, Path(tempfile.mkdtemp(prefix="los-crash-")))
    guard = LedgerGuard(
        WorkItemLedger(engine, lease=timedelta(seconds=lease), actor="crash-sweep"),
        wait_seconds=10,
    )
    try:
        return post_decisions(engine, bot, guard, numbers).summary()
    finally:
        bot.close()
        bot.chromium.close()
        engine.dispose()


def store_decision(engine: Any, number: str, amount: Decimal = AMOUNT) -> None:
    """An approval by rule waiting to be posted, as ``decide.record`` leaves it."""
    from loanhub.platform.db import insert_or_ignore
    from schemas.base import Lineage
    from schemas.lending import Decision, DecisionOutcome
    from schemas.tables import decision, fact_row

    now = datetime.now(UTC)
    made = Decision(
        application_no=number,
        outcome=DecisionOutcome.APPROVE,
        approved_amount=amount,
        term_months=36,
        annual_rate=Decimal("4.35"),
        decided_by="rule:crash_sweep",
        decided_at=now,
        rule_set_version="sweep",
        reasons="crash sweep",
        lineage=Lineage(
            source_system="hub", fetched_at=now, mapping_version="sweep", raw_payload_hash="0" * 64
        ),
    )
    with engine.begin() as conn:
        conn.execute(insert_or_ignore(conn, decision).values(fact_row(made)))


def start_poster(
    database_url: str, sim_dir: Path, numbers: list[str], lease: float = LEASE
) -> subprocess.Popen:
    """``post`` in a process group of its own (Python, Playwright's driver, Chromium), so that
    one SIGKILL takes the whole worker down, as the OOM killer or a lost node would."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.crash_sweep_los",
            "post",
            "--database-url",
            database_url,
            "--sim-dir",
            str(sim_dir),
            "--lease",
            str(lease),
            *numbers,
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill(worker: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group and reap it: nothing left running."""
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=30)


def wait_for(check: Callable[[], bool], timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll)
    return False


# -- the sweep -------------------------------------------------------------------------------


class Journal:
    def __init__(self, admin_url: str) -> None:
        self.url = admin_url
        self.http = requests.Session()

    def events(self, kind: str, number: str) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.url}/journal", params={"system": "los", "kind": kind}, timeout=10)
        r.raise_for_status()
        return [e for e in r.json() if e.get("application_no") == number]

    def controls(self, patch: dict[str, Any]) -> None:
        self.http.post(f"{self.url}/controls/reset", json={}, timeout=10).raise_for_status()
        self.http.patch(f"{self.url}/controls", json=patch, timeout=10).raise_for_status()


def next_run(
    engine: Any, ledger: Any, guard: Any, bot: Any, number: str, settled: dict[str, int]
) -> Any:
    """What the next run does (settle, then post), until the item is settled: DONE, or a
    person's, or still unsettled after a bounded number of runs (then it counts as stuck)."""
    from loanhub.flows.decide import post_decisions, settle_los_decisions
    from schemas.hub import WorkItemState

    item = None
    for _ in range(6):
        for outcome, count in settle_los_decisions(engine, ledger, bot, quiet=QUIET).items():
            settled[outcome] = settled.get(outcome, 0) + count
        post_decisions(engine, bot, guard, [number])
        item = ledger.get("los_decision", number)
        if item is not None and item.state in (WorkItemState.DONE, WorkItemState.NEEDS_HUMAN):
            return item
        time.sleep(LEASE / 2)  # a claim of the killed worker not expired yet, a quiet period
    return item


def sweep(trials: int = 20, points: list[str] | None = None, seed: int = 18) -> dict[str, Any]:
    """Kill an LOS posting at each crash point ``trials`` times; the counts from the LOS's
    journal and the store (see the module's docstring)."""
    from sqlalchemy import select

    from devtools.scratch import scratch_database, simulators_running
    from loanhub.platform.db import make_engine, upgrade
    from loanhub.platform.guards import LedgerGuard
    from loanhub.platform.ledger import WorkItemLedger
    from schemas.hub import WorkItemState
    from schemas.tables import decision

    chosen = points or list(POINTS)
    rng = random.Random(seed)  # noqa: S311 - when to kill, not a secret
    report: dict[str, Any] = {"trials": trials, "points": {}}
    with tempfile.TemporaryDirectory(prefix="los-sweep-") as tmp:
        sim_dir = Path(tmp) / "sim"
        persons = 80 + 3 * trials * len(chosen)
        with simulators_running(sim_dir, persons=persons) as endpoints, scratch_database() as url:
            engine = make_engine(url)
            upgrade(engine)
            journal = Journal(endpoints["admin"]["url"])
            dataset = journal.http.get(endpoints["admin"]["url"] + "/dataset", timeout=60).json()
            numbers = iter(a["application_no"] for a in dataset["applications"])
            ledger = WorkItemLedger(engine, lease=timedelta(seconds=LEASE), actor="next-run")
            guard = LedgerGuard(ledger, wait_seconds=10)
            bot = _bot(endpoints, Path(tmp) / "evidence")
            try:
                for point in chosen:
                    report["points"][point] = _sweep_point(
                        point,
                        trials,
                        rng,
                        url,
                        sim_dir,
                        engine,
                        journal,
                        ledger,
                        guard,
                        bot,
                        numbers,
                    )
            finally:
                bot.close()
                bot.chromium.close()
            with engine.connect() as conn:
                unposted = (
                    conn.execute(
                        select(decision.c.application_no).where(decision.c.los_reference.is_(None))
                    )
                    .scalars()
                    .all()
                )
            report["unposted_decisions"] = list(unposted)
            report["items"] = {
                state.value: len(ledger.items(state, "los_decision")) for state in WorkItemState
            }
            engine.dispose()
    report["posted_twice"] = sum(p["posted_twice"] for p in report["points"].values())
    report["stuck"] = sum(p["stuck"] for p in report["points"].values())
    return report


def _sweep_point(
    point: str,
    trials: int,
    rng: random.Random,
    url: str,
    sim_dir: Path,
    engine: Any,
    journal: Journal,
    ledger: Any,
    guard: Any,
    bot: Any,
    numbers: Any,
) -> dict[str, Any]:
    from schemas.hub import WorkItemState

    spec = POINTS[point]
    result: dict[str, Any] = {
        "killed": 0,
        "finished_first": 0,
        "posted_twice": 0,
        "stuck": 0,
        "states_at_kill": {},
        "settled": {},
        "seconds": 0.0,
    }
    started = time.monotonic()
    for _ in range(trials):
        number = next(numbers)
        journal.controls({"los": {**FAST_LOS["los"], **spec["controls"]}})
        store_decision(engine, number)
        worker = start_poster(url, sim_dir, [number])
        fired = _until_point(spec["signal"], number, worker, journal, rng)
        kill(worker)
        result["killed" if fired else "finished_first"] += 1
        at_kill = ledger.get("los_decision", number)
        state = at_kill.state.value if at_kill else "none"
        result["states_at_kill"][state] = result["states_at_kill"].get(state, 0) + 1
        item = next_run(engine, ledger, guard, bot, number, result["settled"])
        recorded = journal.events("decision", number)
        if len(recorded) > 1:
            result["posted_twice"] += 1
        settled = item is not None and item.state is WorkItemState.DONE
        stored = _reference(engine, number)
        if not settled or stored is None or [e["reference"] for e in recorded] != [stored]:
            result["stuck"] += 1
            result.setdefault("examples", []).append(
                {
                    "application_no": number,
                    "state": item.state.value if item else None,
                    "error": item.error if item else None,
                    "journal": [e["reference"] for e in recorded],
                    "stored": stored,
                }
            )
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _until_point(
    signal_kind: str | None,
    number: str,
    worker: subprocess.Popen,
    journal: Journal,
    rng: random.Random,
) -> bool:
    """Wait for the crash point (its journal event, or a random moment); False when the
    worker finished before it."""
    if signal_kind is None:
        return not wait_for(lambda: worker.poll() is not None, rng.uniform(1.0, 4.0))
    reached = wait_for(
        lambda: bool(journal.events(signal_kind, number)) or worker.poll() is not None, 30
    )
    return reached and worker.poll() is None


def _reference(engine: Any, number: str) -> str | None:
    from sqlalchemy import select

    from schemas.tables import decision

    with engine.connect() as conn:
        return conn.execute(
            select(decision.c.los_reference).where(decision.c.application_no == number)
        ).scalar_one_or_none()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.crash_sweep_los")
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("post", help="one posting run (what the sweep kills)")
    worker.add_argument("--database-url", required=True)
    worker.add_argument("--sim-dir", type=Path, required=True)
    worker.add_argument("--lease", type=float, default=LEASE)
    worker.add_argument("numbers", nargs="+")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--points", default=",".join(POINTS), help="comma-separated")
    args = parser.parse_args(argv)
    if args.command == "post":
        print(json.dumps(post(args.database_url, args.sim_dir, args.numbers, args.lease)))
        return 0
    report = sweep(args.trials, args.points.split(","))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"decisions posted twice: {report['posted_twice']}")
    print(f"items left stuck with nobody to settle them: {report['stuck']}")
    return 0 if report["posted_twice"] == 0 and report["stuck"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
