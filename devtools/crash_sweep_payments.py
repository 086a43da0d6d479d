"""Crash-point sweep of a disbursement: kill it at every point of a payment's upload, let the
next run settle and send, and count from the gateway simulator's own journal what went wrong.

For each crash point and each trial, one fresh tranche is booked in a scratch PostgreSQL store;
a disbursement run (``send_payments``, as the DAG's task calls it, with a 1-second lease)
starts in a subprocess and is SIGKILLed at that point; then the next run does what
``loan_disbursement`` does: settle what is in doubt (``resolve_in_doubt``), send what is
pending (``send_payments``), apply the gateway's reports (``collect_reports``), until the
tranche is settled or a deadline passes. The points:

- ``before_msg_id``: the work item claimed, killed before the file's MsgId is stored;
- ``before_upload``: the MsgId stored, killed while opening the ``.part`` (the SFTP simulator
  holds the open: ``sftp.crash`` in ``simulators/controls.py``);
- ``after_part``: killed mid-write, the ``.part`` partly written;
- ``after_rename``: renamed into place, killed before the ``.ok``;
- ``after_ok``: the ``.ok`` written, killed waiting for its answer;
- ``lost_response``: the ``.ok`` written, then the connection dropped (no kill: the run sees
  the error and goes on);
- ``after_send``: the upload answered in full, killed before the ledger recorded it.

It prints, over all trials, from the journal: tranches paid twice, tranches lost (never
accepted), paid but recorded rejected, items left stuck with nobody to settle them, and files
left in the gateway's inbox (a ``.part``, or a file without its ``.ok``): all must be 0.

Run: ``python -m devtools.crash_sweep_payments [--trials 20] [--points after_rename,...]``.
Everything it starts (the simulators, the scratch database, the children) is gone after it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 1.0
FAST_GATEWAY = {
    "gateway": {"*": {"answer_delay": 0.02, "settle_delay": 0.02, "insufficient_funds_rate": 0.0}},
    "sftp": {"*": {"rate": 0.0}},
}
PART, FILE, OK = "/payments/in/.*.xml.part", "/payments/in/*.xml", "/payments/in/*.xml.ok"
POINTS: dict[str, dict[str, Any]] = {
    "before_msg_id": {"kill_self": "msg_id"},
    "before_upload": {"crash": {"at": "open", "when": "before", "path": PART, "action": "hold"}},
    "after_part": {"crash": {"at": "write", "when": "after", "path": PART, "action": "hold"}},
    "after_rename": {"crash": {"at": "rename", "when": "after", "path": FILE, "action": "hold"}},
    "after_ok": {"crash": {"at": "close", "when": "after", "path": OK, "action": "hold"}},
    "lost_response": {"crash": {"at": "close", "when": "after", "path": OK, "action": "drop"}},
    "after_send": {"kill_self": "after_send"},
}


# -- the disbursement run that gets killed (a child process) ------------------------------------


def child(url: str, sim_dir: Path, data_dir: Path, kill_self: str | None) -> None:
    """One disbursement run as the DAG's task makes it, with a short lease so that the next
    run may settle it soon; ``kill_self`` SIGKILLs this process at a point of its own code
    (the simulator cannot see: before the MsgId is stored, after the upload returned)."""
    from kernel.failures import TransientError
    from loanhub.flows import disburse
    from loanhub.platform.db import make_engine
    from loanhub.platform.guards import LedgerGuard
    from loanhub.platform.ledger import WorkItemLedger
    from loanhub.runtime.settings import HubSettings
    from loanhub.runtime.wiring import HubConnectors

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    engine = make_engine(url)
    settings = HubSettings(data_dir=data_dir, sim_dir=sim_dir, database_url=url)
    gateway = HubConnectors.build(settings, engine).payments
    if kill_self == "msg_id":
        disburse.new_msg_id = lambda *a, **k: die()  # type: ignore[assignment,misc]
    elif kill_self == "after_send":
        send = gateway.send

        def send_then_die(*args: Any, **kwargs: Any) -> str:
            send(*args, **kwargs)
            die()
            raise AssertionError("unreachable")

        gateway.send = send_then_die  # type: ignore[method-assign]
    ledger = WorkItemLedger(engine, lease=timedelta(seconds=LEASE_SECONDS))
    try:
        disburse.send_payments(engine, gateway, LedgerGuard(ledger))
    except TransientError as exc:
        print(f"run ended with a transient failure: {exc}", file=sys.stderr)


def run_child(
    url: str, sim_dir: Path, data_dir: Path, kill_self: str | None
) -> subprocess.Popen[bytes]:
    """The child run; its log is ``<data_dir>/child.log`` (appended, one run after another)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "devtools.crash_sweep_payments", "child", "--url", url]
    cmd += ["--sim-dir", str(sim_dir), "--data-dir", str(data_dir)]
    if kill_self:
        cmd += ["--kill-self", kill_self]
    with (data_dir / "child.log").open("ab") as log:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


# -- one trial ----------------------------------------------------------------------------------


class Admin:
    """The simulators' admin endpoint."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        self.url = endpoints["admin"]["url"]
        self.http = requests.Session()

    def controls(self, patch: dict[str, Any]) -> None:
        self.http.patch(f"{self.url}/controls", json=patch, timeout=10).raise_for_status()

    def journal(self, system: str, kind: str) -> list[dict[str, Any]]:
        r = self.http.get(
            f"{self.url}/journal", params={"system": system, "kind": kind}, timeout=30
        )
        r.raise_for_status()
        return r.json()


def book_tranche(engine: Any, loan_account: str, customer_no: str, account: str) -> str:
    """A booked loan and its pending tranche, as ``book_loans`` leaves them; its EndToEndId."""
    from connectors.payments import end_to_end_id
    from schemas.base import Lineage
    from schemas.lending import Disbursement, Loan
    from schemas.tables import disbursement, fact_row, loan
    from schemas.types import utcnow

    lineage = Lineage(
        source_system="hub", fetched_at=utcnow(), mapping_version="sweep", raw_payload_hash="0" * 64
    )
    e2e = end_to_end_id(loan_account, 1)
    made = Loan(
        loan_account=loan_account,
        application_no=f"SWEEP{loan_account}",
        customer_no=customer_no,
        principal=Decimal("10000.00"),
        annual_rate=Decimal("4.35"),
        term_months=12,
        start_date=utcnow().date(),
        lineage=lineage,
    )
    tranche = Disbursement(
        loan_account=loan_account,
        tranche=1,
        amount=Decimal("10000.00"),
        creditor_account=account,
        end_to_end_id=e2e,
        requested_at=utcnow(),
        lineage=lineage,
    )
    with engine.begin() as conn:
        conn.execute(loan.insert().values(fact_row(made)))
        conn.execute(disbursement.insert().values(fact_row(tranche)))
    return e2e


def next_run(engine: Any, gateway: Any, e2e: str, deadline: float) -> str:
    """What the next ``loan_disbursement`` runs do, until the tranche is settled (or the
    deadline): settle the doubts first, send what is pending, apply the reports. Returns the
    tranche's final status."""
    from kernel.failures import TransientError
    from loanhub.flows import disburse
    from loanhub.platform.guards import LedgerGuard
    from loanhub.platform.ledger import WorkItemLedger
    from loanhub.platform.receipts import FileReceiptBook
    from schemas.tables import disbursement

    ledger = WorkItemLedger(engine)
    receipts = FileReceiptBook(engine)
    status = "?"
    while True:
        disburse.resolve_in_doubt(engine, gateway, receipts, ledger)
        with contextlib.suppress(TransientError):  # a failed upload: the next loop sends it
            disburse.send_payments(engine, gateway, LedgerGuard(ledger, wait_seconds=2))
        disburse.collect_reports(engine, gateway, receipts)
        with engine.connect() as conn:
            status = conn.execute(
                disbursement.select()
                .with_only_columns(disbursement.c.status)
                .where(disbursement.c.end_to_end_id == e2e)
            ).scalar_one()
        if status in ("ACSC", "RJCT") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def trial(
    point: str,
    endpoints: dict[str, Any],
    url: str,
    engine: Any,
    gateway: Any,
    account: tuple[str, str],
    data_dir: Path,
    loan_account: str,
) -> dict[str, Any]:
    """Book one tranche, run a disbursement killed at ``point``, then the next runs."""
    admin = Admin(endpoints)
    spec = POINTS[point]
    e2e = book_tranche(engine, loan_account, *account)
    crash = spec.get("crash")
    admin.controls(
        {"sftp": {"crash": {**crash, "times": 1, "hold_seconds": 20}}}
        if crash
        else {"sftp": {"crash": {"times": 0}}}
    )
    seen = len(admin.journal("sftp", "crash"))
    started = time.monotonic()
    proc = run_child(url, Path(endpoints["data_dir"]), data_dir, spec.get("kill_self"))
    killed = False
    try:
        if crash and crash["action"] == "hold":
            while len(admin.journal("sftp", "crash")) <= seen:
                if proc.poll() is not None or time.monotonic() - started > 30:
                    break
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed = True
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        admin.controls({"sftp": {"crash": {"times": 0}}})
    killed = killed or proc.returncode == -signal.SIGKILL
    hit = len(admin.journal("sftp", "crash")) > seen if crash else killed
    time.sleep(LEASE_SECONDS)  # the dead run's lease runs out: only then may anybody settle it
    status = next_run(engine, gateway, e2e, time.monotonic() + 15)
    return {
        "point": point,
        "e2e": e2e,
        "killed": killed,
        "hit": hit,
        "status": status,
        "seconds": round(time.monotonic() - started, 2),
    }


# -- the sweep ----------------------------------------------------------------------------------


def judge(engine: Any, endpoints: dict[str, Any], e2es: set[str]) -> dict[str, Any]:
    """From the gateway's journal and folders (and the hub's store for what it recorded)."""
    from loanhub.flows import disburse
    from schemas.tables import disbursement, work_item

    admin = Admin(endpoints)
    accepted = Counter(
        p["end_to_end_id"]
        for p in admin.journal("gateway", "payment")
        if p["status"] == "ACCP" and p["end_to_end_id"] in e2es
    )
    with engine.connect() as conn:
        hub = dict(
            conn.execute(
                disbursement.select()
                .with_only_columns(disbursement.c.end_to_end_id, disbursement.c.status)
                .where(disbursement.c.end_to_end_id.in_(e2es))
            ).all()
        )
        items = dict(
            conn.execute(
                work_item.select()
                .with_only_columns(work_item.c.business_key, work_item.c.state)
                .where(work_item.c.kind == disburse.KIND, work_item.c.business_key.in_(e2es))
            ).all()
        )
    inbox = Path(endpoints["sftp"]["root"]) / "payments" / "in"
    names = {p.name for p in inbox.iterdir() if p.is_file()}
    left = sorted(
        n for n in names if n.endswith(".part") or (n.endswith(".xml") and f"{n}.ok" not in names)
    )
    stuck = sorted(e for e in e2es if items.get(e) != "DONE" or hub.get(e) not in ("ACSC",))
    return {
        "tranches": len(e2es),
        "paid_twice": sorted(e for e, n in accepted.items() if n > 1),
        "lost": sorted(e for e in e2es if accepted[e] == 0),
        "paid_but_recorded_rejected": sorted(
            e for e in e2es if hub.get(e) == "RJCT" and accepted[e]
        ),
        "stuck": {e: [hub.get(e), items.get(e)] for e in stuck},
        "left_in_inbox": left,
    }


def sweep(trials: int = 20, points: list[str] | None = None) -> dict[str, Any]:
    """Every crash point, ``trials`` times each, against simulators and a scratch PostgreSQL
    store of its own; returns the counts (all must be 0) and each trial's outcome."""
    from devtools.scratch import scratch_database, simulators_running
    from loanhub.platform.db import make_engine, upgrade
    from loanhub.runtime.settings import HubSettings
    from loanhub.runtime.wiring import HubConnectors
    from simulators.dataset import generate

    chosen = points or list(POINTS)
    token = secrets.token_hex(3).upper()
    with tempfile.TemporaryDirectory(prefix="crash-sweep-") as tmp:
        work = Path(tmp)
        with simulators_running(work / "sim") as endpoints, scratch_database() as url:
            Admin(endpoints).controls(FAST_GATEWAY)
            data = generate(endpoints["seed"], endpoints["persons"], endpoints["enterprises"])
            payable = [
                (c.customer_no, a.account_no)
                for c in data.customers
                for a in c.accounts
                if a.type == "deposit" and a.status == "ACTIVE"
            ]
            engine = make_engine(url)
            upgrade(engine)
            settings = HubSettings(data_dir=work / "hub", sim_dir=work / "sim", database_url=url)
            gateway = HubConnectors.build(settings, engine).payments
            outcomes = []
            n = 0
            for point in chosen:
                for _ in range(trials):
                    n += 1
                    outcomes.append(
                        trial(
                            point,
                            endpoints,
                            url,
                            engine,
                            gateway,
                            payable[n % len(payable)],
                            work / "child",
                            f"LNSW{token}{n:05d}",
                        )
                    )
            verdict = judge(engine, endpoints, {o["e2e"] for o in outcomes})
            from loanhub.flows import disburse
            from loanhub.platform.ledger import WorkItemLedger
            from loanhub.platform.receipts import FileReceiptBook

            report = disburse.reconcile(
                engine, gateway, FileReceiptBook(engine), WorkItemLedger(engine)
            )
            engine.dispose()
    counts = {
        "trials": len(outcomes),
        "killed": sum(o["killed"] for o in outcomes),
        "crash point not reached": sum(not o["hit"] for o in outcomes),
        "tranches paid twice": len(verdict["paid_twice"]),
        "tranches lost": len(verdict["lost"]),
        "paid but recorded rejected": len(verdict["paid_but_recorded_rejected"]),
        "items left stuck with nobody to settle them": len(verdict["stuck"]),
        "files left in the gateway's inbox": len(verdict["left_in_inbox"]),
        "reconcile mismatches": len(report["mismatches"]) + len(report["paid_but_rejected"]),
    }
    return {
        "counts": counts,
        "detail": verdict,
        "per_point": _per_point(outcomes),
        "trials": outcomes,
    }


def _per_point(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        p = out.setdefault(
            o["point"],
            {"trials": 0, "killed": 0, "hit": 0, "statuses": Counter(), "max_seconds": 0.0},
        )
        p["trials"] += 1
        p["killed"] += o["killed"]
        p["hit"] += o["hit"]
        p["statuses"][o["status"]] += 1
        p["max_seconds"] = max(p["max_seconds"], o["seconds"])
    return {k: {**v, "statuses": dict(v["statuses"])} for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    kid = sub.add_parser("child", help="(internal) one disbursement run, to be killed")
    kid.add_argument("--url", required=True)
    kid.add_argument("--sim-dir", type=Path, required=True)
    kid.add_argument("--data-dir", type=Path, required=True)
    kid.add_argument("--kill-self", choices=["msg_id", "after_send"])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--points", help=f"comma-separated, of {', '.join(POINTS)}")
    args = parser.parse_args(argv)
    if args.command == "child":
        child(args.url, args.sim_dir, args.data_dir, args.kill_self)
        return 0
    result = sweep(args.trials, args.points.split(",") if args.points else None)
    print(json.dumps({"per_point": result["per_point"], "detail": result["detail"]}, indent=2))
    for name, value in result["counts"].items():
        print(f"{name:48} {value}")
    bad = [k for k, v in result["counts"].items() if k not in ("trials", "killed") and v]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
