"""`make demo`: the whole credit lifecycle, end to end, on the embedded SQLite default.

Starts the legacy-system simulators (faults on), prepares Airflow's own home and the hub's
pools, takes a seeded batch of applications waiting in the LOS (persons, and companies with and
without a guarantor), and runs the DAGs under ``dag.test()`` one after the other: harvest,
decide (a scripted credit-ops user answers the referrals through Airflow's human-in-the-loop
records, returns the first for more documents, and says so), post to the LOS (where a scripted
LOS checker confirms the approvals the LOS held for a second approver, and says so), disburse
(one payee's account closed at the core: the gateway rejects it AC04, a scripted operator
re-instructs it with ``loanhub payments repay`` once it is open again, and the next run pays
it), the post-loan re-pull of the new loans (one of them made 150 days old: still watched
under its post-loan consents), two months of repayments through the nightly sync with its
reconciliation, warnings, e-mail. The repayments are those of the loans the demo just paid
out: the simulated core books each payment the gateway accepted (the remittance line names
the loan) and its nightly extract then carries their installments, as the borrowers repay
them five days after each due date. Progress bars while it runs; a summary table (the edges
met included, and no work item left waiting on nothing) and an HTML report with charts at the
end.

Run: ``python -m devtools.demo [--applications 30]`` (``make demo`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, func, select

from devtools.aged_loans import age_loans
from devtools.connections import airflow_environment
from devtools.los_checker import confirm_held, held_in_store
from devtools.los_list import take_companies, take_waiting
from devtools.payees import name_waiting_payees
from devtools.report import summarise, write_html
from loanhub.flows.reconciliation import reconciled_totals
from loanhub.flows.waiting import stuck
from loanhub.platform.db import make_engine, upgrade
from loanhub.runtime.settings import HubSettings
from schemas.tables import (
    applicant_profile,
    application,
    audit_event,
    core_account,
    credit_report,
    decision,
    disbursement,
    early_warning,
    loan,
    party,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
console = Console()
DEMO_CONTROLS = {  # the catalogue's faults on, its latencies shortened so the demo takes minutes
    "bureau": {"*": {"latency": [0.05, 0.3], "rate": 0.05}},
    "core": {"*": {"latency": [0.02, 0.1]}},
    "tax": {"*": {"answer_delay": [1.0, 2.0]}},
    "gateway": {"*": {"answer_delay": [0.3, 0.8], "settle_delay": [0.5, 1.0]}},
    "ss": {"*": {"latency": [0.1, 0.4], "notice_rate": 0.2, "rate": 0.02}},
    "los": {"*": {"latency": [0.05, 0.2], "gateway_504_rate": 0.1}},
}


def _environment(settings: HubSettings) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(ROOT / "airflow_home")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": settings.timezone,  # the bank's clock
        "PYTHONPATH": str(ROOT),
        "LOANHUB_DATA_DIR": str(settings.data_dir.resolve()),
    }


def _quiet(cmd: list, env: dict[str, str], timeout: int = 600) -> str:
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        console.print(
            f"[red]{' '.join(map(str, cmd))} failed[/]\n{run.stdout[-2000:]}{run.stderr[-3000:]}"
        )
        raise SystemExit(1)
    return run.stdout


def _nights_after(paid_out: date, months: int) -> date:
    """The business night five days after the ``months``-th installment of a loan paid out on
    ``paid_out`` fell due (the core dates installments by calendar month)."""
    index = paid_out.month - 1 + months
    due = paid_out.replace(year=paid_out.year + index // 12, month=index % 12 + 1, day=1)
    return due.replace(day=min(paid_out.day, 28)) + timedelta(days=5)


def _count(engine: Engine, query) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _run_dag(
    env: dict[str, str],
    dag_id: str,
    conf: dict,
    progress: Progress,
    total: int,
    done: Callable[[], int],
) -> float:
    """Run one DAG (a subprocess under ``dag.test()``), with a bar fed from the store."""
    task = progress.add_task(dag_id, total=total or 1)
    start = time.perf_counter()
    log = Path(env["LOANHUB_DATA_DIR"]) / "logs" / f"{dag_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devtools.run", dag_id, json.dumps(conf)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        while proc.poll() is None:
            progress.update(task, completed=min(done(), total or 1))
            time.sleep(0.5)
    progress.update(task, completed=total or 1)
    if proc.returncode != 0:
        console.print(f"[red]{dag_id} failed[/]: see {log}")
        raise SystemExit(1)
    return time.perf_counter() - start


@dataclass
class Run:
    """One demo run: the environment every DAG run gets, the store it fills, the progress bars
    and the time each step took."""

    env: dict[str, str]
    engine: Engine
    progress: Progress
    steps: dict[str, float] = field(default_factory=dict)
    answered: list[str] = field(default_factory=list)  # what the scripted credit ops said
    aged: list[str] = field(default_factory=list)  # loans made older than 90 days
    nights: list[date] = field(default_factory=list)  # the business nights synced

    def dag(self, title: str, dag_id: str, conf: dict, total: int, done: Callable[[], int]) -> None:
        self.steps[title] = _run_dag(self.env, dag_id, conf, self.progress, total, done)

    def count(self, query) -> Callable[[], int]:
        return lambda: _count(self.engine, query)


def _start_simulators(settings: HubSettings, env: dict[str, str]) -> dict:
    """The simulators (started unless they run), reset, with the demo's faults and latencies."""
    sim_dir = settings.simulators_dir
    status = subprocess.run([BIN / "loanhub", "sim", "status"], env=env, capture_output=True)
    if status.returncode != 0:
        _quiet([BIN / "loanhub", "sim", "up"], env)
    endpoints = json.loads((sim_dir / "endpoints.json").read_text())
    admin = endpoints["admin"]["url"]
    requests.post(f"{admin}/controls/reset", json={}, timeout=10).raise_for_status()
    requests.patch(f"{admin}/controls", json=DEMO_CONTROLS, timeout=10).raise_for_status()
    console.print(
        f"simulators up ({sim_dir}): faults on (bureau busy 5%, portal notice 20%, LOS 504 "
        "after commit 10%), latencies shortened for the demo"
    )
    return endpoints


def _prepare_airflow(env: dict[str, str]) -> Path:
    """Airflow's metadata database (first run only) and the hub's pools; returns its home."""
    home = Path(env["AIRFLOW_HOME"])
    if not (home / "airflow.db").exists():
        console.print("preparing Airflow's metadata database (first run only) ...")
        _quiet([BIN / "airflow", "db", "migrate"], env)
    pools = home / "loanhub-pools.json"
    pools.write_text(_quiet([BIN / "loanhub", "airflow-pools"], env))
    _quiet([BIN / "airflow", "pools", "import", str(pools)], env)
    return home


def _intake(settings: HubSettings, engine: Engine, applications: int, companies: int) -> list[str]:
    numbers, intake = take_waiting(settings, engine, applications)
    firms, firm_intake = take_companies(settings, engine, companies)
    console.print(
        f"store: {settings.store_url}\nintake: {len(numbers) + len(firms)} applications waiting "
        f"in the LOS, {len(firms)} of them companies (some with a guarantor) "
        f"({intake.loaded + firm_intake.loaded} new, "
        f"{intake.already_present + firm_intake.already_present} already known)"
    )
    console.print(
        "[yellow]credit ops is scripted for this demo[/]: a program answers each referral in "
        "Airflow's Required actions as an approver of its tier (never the maker): Approve from "
        "a score of 55, Reject below; the first referral it returns for more documents "
        "(退回补件)."
    )
    return numbers + firms


def _decide(run: Run, numbers: list[str], los: dict) -> list[str]:
    """credit_decision with the scripted credit-ops user answering the referrals, then the
    scripted LOS checker confirming what the LOS held for a second approver; returns what
    credit ops answered."""
    ops = subprocess.Popen(
        [sys.executable, "-m", "devtools.credit_ops", "--approve-from", "55", "--returns", "1"],
        env=run.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        run.dag(
            "decide + post to LOS",
            "credit_decision",
            {"application_nos": numbers, "requested_by": "ops_demo"},
            len(numbers),
            run.count(
                select(func.count())
                .select_from(decision)
                .where(decision.c.los_reference.is_not(None))
            ),
        )
    finally:
        ops.terminate()
        answered = ops.communicate(timeout=30)[0].splitlines()
    held = held_in_store(run.engine)
    if held:
        checker, confirmed = confirm_held(los, held)
        run.progress.console.print(
            f"[yellow]the LOS's checker is scripted for this demo[/]: {checker} confirms in "
            f"the LOS the {len(confirmed)} approval(s) above the robot's limit that the LOS "
            "held for a second approver (待复核)"
        )
    return answered


def _first_payee(engine: Engine) -> str | None:
    """The deposit account the first approval the LOS confirmed will be paid into (as
    ``book_loans`` finds it), or None when nothing was approved."""
    with engine.connect() as conn:
        return conn.execute(
            select(core_account.c.account_no)
            .join(
                applicant_profile,
                applicant_profile.c.core_customer_no == core_account.c.customer_no,
            )
            .join(decision, decision.c.application_no == applicant_profile.c.application_no)
            .where(
                decision.c.outcome == "APPROVE",
                decision.c.los_status == "APPROVED",
                core_account.c.account_type == "DEPOSIT",
                core_account.c.status == "ACTIVE",
            )
            # the account book_loans pays into: the customer's first active deposit account
            # (a customer with two would otherwise leave the closed one unpaid, and unrejected)
            .order_by(decision.c.application_no, core_account.c.account_no)
            .limit(1)
        ).scalar()


def _disburse(run: Run, admin: str) -> None:
    """loan_disbursement while one payee's account is closed at the core (the gateway answers
    AC04: the tranche is rejected with its reason and operations warned), then what an
    operator does once the customer's account is open again: ``loanhub payments repay`` with a
    note (audited); an operator also names the new settlement account of each company the core
    does not know (``payee_account`` items); the next run pays each once."""
    approved = select(func.count()).select_from(decision).where(decision.c.outcome == "APPROVE")
    answered = disbursement.c.status.in_(("ACSC", "RJCT"))
    closed = _first_payee(run.engine)
    gateway = f"{admin}/controls"
    if closed:
        requests.patch(
            gateway, json={"gateway": {"answer": {"reject_accounts": {closed: "AC04"}}}}, timeout=10
        ).raise_for_status()
    run.dag(
        "disburse",
        "loan_disbursement",
        {},
        _count(run.engine, approved),
        run.count(select(func.count()).select_from(disbursement).where(answered)),
    )
    again = _reinstruct_rejected(run, gateway, closed) if closed else []
    for number in name_waiting_payees(run.engine, admin):
        again.append(number)
        run.progress.console.print(
            f"[yellow]operations is scripted for this demo[/]: {number} has no active deposit "
            "account at the core to pay into; ops.demo names the one the borrower opened at the "
            "branch (`loanhub payments payee ... --note ...`, audited)"
        )
    if again:
        run.dag(
            "disburse again",
            "loan_disbursement",
            {},
            _count(run.engine, approved),
            run.count(
                select(func.count())
                .select_from(disbursement)
                .where(disbursement.c.status == "ACSC")
            ),
        )


def _reinstruct_rejected(run: Run, gateway: str, closed: str) -> list[str]:
    """The closed account open again, and each rejected tranche re-instructed by an operator
    with ``loanhub payments repay`` (audited); returns the tranches re-instructed."""
    requests.patch(
        gateway, json={"gateway": {"answer": {"reject_accounts": {closed: None}}}}, timeout=10
    ).raise_for_status()
    with run.engine.connect() as conn:
        rejected = (
            conn.execute(
                select(disbursement.c.end_to_end_id).where(disbursement.c.status == "RJCT")
            )
            .scalars()
            .all()
        )
    for e2e in rejected:
        note = "customer's account reopened at the branch"
        _quiet(
            [BIN / "loanhub", "payments", "repay", e2e, "--note", note, "--operator", "ops.demo"],
            run.env,
        )
        run.progress.console.print(
            f"[yellow]operations is scripted for this demo[/]: the gateway rejected {e2e} "
            f"(AC04 closed account); ops.demo re-instructs it with `loanhub payments repay "
            f"{e2e} --note ...` once the account is open again"
        )
    return list(rejected)


def _age_one_loan(run: Run) -> None:
    """One paid loan made 150 days old (its start and its applicant's consents moved back;
    the approval consents lapse as they would have): the post-loan re-pull still watches it,
    under its post-loan consents (reason 02, valid for the loan's life)."""
    with run.engine.connect() as conn:
        first = conn.execute(
            select(loan.c.application_no)
            .join(disbursement, disbursement.c.loan_account == loan.c.loan_account)
            .where(disbursement.c.status == "ACSC")
            .order_by(loan.c.application_no)
            .limit(1)
        ).scalar()
    if first:
        run.aged = age_loans(run.engine, [first], 150)


def _after_the_loan(run: Run, admin: str) -> None:
    """The new loans' first re-pull (one of them made 150 days old), two nights of repayments
    a month apart (the core books the loans the gateway paid), and the warnings mailed."""
    _age_one_loan(run)
    run.dag("post-loan re-pull", "post_loan_monitoring", {}, 1, lambda: 0)
    paid_out = datetime.now(UTC).date()
    run.nights = [_nights_after(paid_out, 1), _nights_after(paid_out, 2)]
    for month, day in enumerate(run.nights, 1):
        requests.post(
            f"{admin}/extract", json={"business_date": day.isoformat()}, timeout=60
        ).raise_for_status()
        run.dag(
            f"nightly sync, month {month}",
            "repayment_sync",
            {"business_date": day.isoformat()},
            1,
            lambda: 0,
        )
    run.dag(
        "warnings by e-mail",
        "warning_notify",
        {},
        _count(run.engine, select(func.count()).select_from(early_warning)),
        run.count(
            select(func.count())
            .select_from(early_warning)
            .where(early_warning.c.notified_at.is_not(None))
        ),
    )


def _lifecycle(env: dict[str, str], engine: Engine, numbers: list[str], endpoints: dict) -> Run:
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        run = Run(env, engine, progress)
        run.dag(
            "harvest",
            "credit_harvest",
            {"application_nos": numbers, "batch_size": 10},
            len(numbers),
            run.count(select(func.count(func.distinct(applicant_profile.c.application_no)))),
        )
        run.answered = _decide(run, numbers, endpoints["los"])
        _disburse(run, endpoints["admin"]["url"])
        _after_the_loan(run, endpoints["admin"]["url"])
    return run


def _edges(run: Run) -> list[tuple[str, str]]:
    """The lifecycle's edges this run met, counted from the store: companies, the return for
    more documents, the rejected payment and its re-instruction, the loan older than 90 days
    still watched, and the work items waiting on nothing (none, or the run failed)."""
    with run.engine.connect() as conn:
        firms = conn.execute(
            select(func.count())
            .select_from(application)
            .join(party, party.c.id_number == application.c.party_id_number)
            .where(party.c.kind == "ENTERPRISE")
        ).scalar_one()
        rejected = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.action == "payment.rejected")
        ).scalar_one()
        repaid = conn.execute(
            select(func.count())
            .select_from(disbursement)
            .where(disbursement.c.instruction > 0, disbursement.c.status == "ACSC")
        ).scalar_one()
        payees = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.action == "payment.payee_named")
        ).scalar_one()
        watched = conn.execute(
            select(func.count(func.distinct(credit_report.c.application_no)))
            .join(loan, loan.c.application_no == credit_report.c.application_no)
            .where(loan.c.loan_account.in_(run.aged), credit_report.c.query_reason == "02")
        ).scalar_one()
    nothing = stuck(run.engine)
    if nothing:
        for item in nothing:
            console.print(f"[red]waits on nothing[/]: {item}")
        raise SystemExit(1)
    checked = []
    for day in run.nights:
        totals = reconciled_totals(run.engine, day) or {}
        checked += [
            (
                f"reconciliation {day}: hub loans expected/found/missing",
                "/".join(
                    str(totals.get(k, "-"))
                    for k in ("loans_expected", "loans_found", "loans_missing")
                ),
            ),
            (
                f"reconciliation {day}: days past due differing",
                str(totals.get("dpd_mismatches", "-")),
            ),
        ]
    return [
        *checked,
        ("applications from companies", str(firms)),
        ("payments rejected by the gateway", str(rejected)),
        ("re-instructed by an operator and paid", str(repaid)),
        ("payee accounts named by an operator", str(payees)),
        ("loans older than 90 days re-pulled (reason 02)", f"{watched} of {len(run.aged)}"),
        ("work items waiting on nothing", str(len(nothing))),
    ]


def _summary(settings: HubSettings, run: Run, admin: str, home: Path, began: float) -> None:
    console.print(f"credit ops answered {len(run.answered)} referral(s):")
    for line in run.answered:
        console.print(f"  {line}")
    summary = summarise(run.engine, run.steps)
    table = Table(title="loanhub demo: summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    for status_name, count in sorted(summary.applications.items()):
        table.add_row(f"applications {status_name}", str(count))
    for who, count in summary.decided_by.items():
        table.add_row(f"decided by {who}", str(count))
    table.add_row("amount disbursed (settled)", f"{summary.disbursed_amount:,.2f} CNY")
    for rule, count in sorted(summary.warnings.items()):
        table.add_row(f"warnings: {rule}", str(count))
    table.add_row("warnings mailed", str(summary.warnings_mailed))
    for what, value in _edges(run):
        table.add_row(what, value)
    table.add_row("time taken", f"{time.perf_counter() - began:.0f} s")
    console.print(table)
    report = write_html(summary, settings.data_dir / "report" / "lifecycle.html")
    console.print(f"HTML report with charts: [bold]{report.resolve()}[/]")
    _case_files(settings, run)
    mails = len(requests.get(f"{admin}/journal", params={"system": "smtp"}, timeout=10).json())
    console.print(
        f"the SMTP simulator holds {mails} message(s); the simulators keep running "
        "(`loanhub sim down` stops them)"
    )
    console.print(
        "the monitoring dashboard over this run: `loanhub dashboard-user add NAME --role "
        "viewer` (a password of 12+ characters of three kinds), then "
        f"`LOANHUB_AIRFLOW_DB_URL=sqlite:///{home / 'airflow.db'} "
        ".venv/bin/loanhub dashboard` and http://127.0.0.1:8790/"
    )


def _case_files(settings: HubSettings, run: Run) -> None:
    """The closed applications archived (what the daily hub_housekeeping DAG does), and one
    case file written out in Chinese and English for a person to open."""
    from loanhub.flows.casefile.render import render_standalone
    from loanhub.platform.masking import mask_text

    archived = _quiet([sys.executable, "-m", "loanhub", "archive", "run"], run.env)
    console.print(f"archive: {archived.strip().splitlines()[-1] if archived.strip() else 'none'}")
    with run.engine.connect() as conn:
        first = conn.execute(
            select(decision.c.application_no).order_by(decision.c.application_no).limit(1)
        ).scalar()
    if first is None:
        return
    for lang in ("zh-CN", "en"):
        path = settings.data_dir / "report" / f"case-{lang}.html"
        path.write_bytes(render_standalone(run.engine, first, lang=lang))
        path.chmod(0o600)
    shown = mask_text(first)
    console.print(
        f"the case file of {shown}: [bold]{path.parent.resolve()}/case-zh-CN.html[/] "
        f"(and case-en.html); `.venv/bin/loanhub case {shown}` prints it"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=30)
    parser.add_argument("--companies", type=int, default=3, help="company applications too")
    args = parser.parse_args()
    settings = HubSettings()
    env = _environment(settings)
    began = time.perf_counter()
    console.rule("[bold]loanhub demo: the credit lifecycle end to end")
    endpoints = _start_simulators(settings, env)
    env |= airflow_environment(settings.simulators_dir)  # the legacy systems' connections
    home = _prepare_airflow(env)
    engine = make_engine(settings.store_url)
    upgrade(engine)
    numbers = _intake(settings, engine, args.applications, args.companies)
    run = _lifecycle(env, engine, numbers, endpoints)
    _summary(settings, run, endpoints["admin"]["url"], home, began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
