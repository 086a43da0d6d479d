"""The ``loanhub`` command line: what integration engineers and operators run by hand."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kernel.failures import LegacyError
from loanhub.platform import audit
from loanhub.platform.db import current_revision, make_engine, upgrade
from loanhub.platform.masking import install_log_masking, known_names, mask_id, mask_text
from loanhub.runtime.settings import HubSettings
from schemas.identifiers import (
    InvalidIdentifier,
    luhn_ok,
    resident_id_birth_date,
    validate_resident_id,
    validate_uscc,
)

app = typer.Typer(help="loanhub: the credit integration hub.", no_args_is_help=True)
db_app = typer.Typer(help="The hub's store.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit chain.", no_args_is_help=True)
id_app = typer.Typer(help="Identifiers.", no_args_is_help=True)
mapping_app = typer.Typer(help="Source -> canonical mappings.", no_args_is_help=True)
extract_app = typer.Typer(help="The core's nightly repayment extract.", no_args_is_help=True)
sim_app = typer.Typer(
    help="The legacy-system simulators (a separate process).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(sim_app, name="sim")
app.add_typer(extract_app, name="extract")
app.add_typer(mapping_app, name="mapping")
app.add_typer(audit_app, name="audit")
app.add_typer(id_app, name="id")
evidence_app = typer.Typer(help="What the bots filed when they stopped.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")
bot_app = typer.Typer(help="The screen bots, run by hand.", no_args_is_help=True)
app.add_typer(bot_app, name="bot")
blacklist_app = typer.Typer(
    help="The bank's own blacklist: listed parties are rejected by the rules.",
    no_args_is_help=True,
)
app.add_typer(blacklist_app, name="blacklist")

console = Console()
UrlOption = Annotated[
    str | None, typer.Option("--url", help="store URL (default: LOANHUB_DATABASE_URL or embedded)")
]


@app.callback()
def _main() -> None:
    install_log_masking()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _engine(url: str | None):
    return make_engine(url or HubSettings().store_url)


@db_app.command("upgrade")
def db_upgrade(url: UrlOption = None) -> None:
    """Create or migrate the store to the newest schema."""
    engine = _engine(url)
    upgrade(engine)
    console.print(f"store at revision [bold]{current_revision(engine)}[/]")


@db_app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Print the store's schema revision."""
    console.print(current_revision(_engine(url)) or "empty (run: loanhub db upgrade)")


@audit_app.command("verify")
def audit_verify(url: UrlOption = None) -> None:
    """Walk the audit chain; print the first broken link and exit 1 if there is one."""
    engine = _engine(url)
    report = audit.verify(engine)
    if not report.ok:
        console.print(
            f"[red]audit chain BROKEN at event {report.broken_seq}[/]: {report.reason} "
            f"({report.checked} events verified before it)"
        )
        raise typer.Exit(1)
    _, head = audit.head(engine)
    console.print(f"audit chain intact: {report.checked} events, head {head}")


@id_app.command("check")
def id_check(value: str) -> None:
    """Validate a resident ID, a unified social credit code or a card number."""
    v = value.strip()
    if len(v) == 18 and v[:17].isdigit():
        try:
            rid = validate_resident_id(v)
        except InvalidIdentifier as exc:
            console.print(f"[red]invalid resident ID[/] {mask_id(v)}: {exc}")
            raise typer.Exit(1) from exc
        console.print(
            f"valid resident ID {mask_id(rid)}: region {rid[:6]}, "
            f"born {resident_id_birth_date(rid).isoformat()}"
        )
        return
    if len(v) == 18:
        try:
            code = validate_uscc(v)
        except InvalidIdentifier as exc:
            console.print(f"[red]invalid USCC[/] {mask_id(v)}: {exc}")  # it may be a mistyped ID
            raise typer.Exit(1) from exc
        console.print(f"valid USCC {code}: registry {code[0]}, region {code[2:8]}")
        return
    if 12 <= len(v) <= 19 and v.isdigit():
        if luhn_ok(v):
            console.print("card number passes the Luhn check")
            return
        console.print("[red]card number fails the Luhn check[/]")
        raise typer.Exit(1)
    console.print(
        f"[red]not an identifier[/]: {len(v)} characters; expected an 18-character "
        "resident ID or USCC, or a 12-19 digit card number"
    )
    raise typer.Exit(1)


def _simulators(command: str, *extra: str) -> None:
    """The simulators run as their own program: the hub never imports them."""
    import subprocess
    import sys

    args = [
        sys.executable,
        "-m",
        "simulators",
        command,
        "--data-dir",
        str(HubSettings().simulators_dir),
        *extra,
    ]
    raise typer.Exit(subprocess.run(args, check=False).returncode)


@sim_app.command("up")
def sim_up(
    seed: Annotated[int, typer.Option(help="seed of the simulated world")] = 20261124,
    persons: Annotated[int, typer.Option(help="number of persons")] = 200,
    enterprises: Annotated[int, typer.Option(help="number of enterprises")] = 40,
) -> None:
    """Start every simulator on loopback and write the endpoints file."""
    _simulators(
        "up", "--seed", str(seed), "--persons", str(persons), "--enterprises", str(enterprises)
    )


@sim_app.command("status")
def sim_status() -> None:
    """Print the simulators' endpoints; exit 1 when they are down."""
    _simulators("status")


@sim_app.command("down")
def sim_down() -> None:
    """Stop the simulators."""
    _simulators("down")


@mapping_app.command("check")
def mapping_check(
    source: Annotated[str, typer.Argument(help="mapping name, e.g. bureau_personal")],
    path: Path,
    param: Annotated[list[str] | None, typer.Option(help="key=value given to the mapping")] = None,
) -> None:
    """Map a source file; print the canonical records (masked) or each error with its path."""
    import json

    from loanhub.platform.canonical import sha256_hex
    from mappings.engine import Mapping, MappingError, available
    from schemas.types import utcnow

    try:
        mapping = Mapping.load(source)
    except MappingError as exc:
        console.print(f"[red]{exc}[/]; known: {', '.join(available())}")
        raise typer.Exit(2) from exc
    data = path.read_bytes()
    params = dict(p.split("=", 1) for p in param or [])
    result = mapping.map(
        data, fetched_at=utcnow(), raw_payload_hash=sha256_hex(data), params=params
    )
    for name, records in result.records.items():
        for record in records:
            body = record.model.model_dump(mode="json", exclude={"lineage"})
            print(mask_text(json.dumps({"record": name, **body}, ensure_ascii=False)))
    for refused in result.refused:  # source text is not rich markup: escape it
        where = escape(refused.field_path or refused.record)
        console.print(
            f"[red]refused[/] {where}: {escape(mask_text(refused.reason))} "
            f"(value {escape(mask_text(repr(refused.value)))})"
        )
    mapped = sum(len(records) for records in result.records.values())
    console.print(
        f"{result.seen} records seen, {mapped} mapped, {result.refused_records} "
        f"refused; mapping {mapping.name} version {mapping.version}"
    )
    if result.refused:
        raise typer.Exit(1)


@extract_app.command("check")
def extract_check(
    path: Path,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Decode and validate an LNREPAY file without loading it; exit 1 if it would be rejected."""
    import json

    from mappings.lnrepay import check_extract

    result = check_extract(path.read_bytes(), path.name)
    summary = result.summary()
    summary.pop("quarantined_records")
    summary["quarantined_records"] = [
        {**q, "loan_account": mask_text(q["loan_account"])} for q in result.quarantined_records
    ]
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        for key, value in summary.items():
            console.print(f"{key:>22}: {value}")
    if result.rejected:
        raise typer.Exit(1)


@extract_app.command("load")
def extract_load(path: Path, url: UrlOption = None) -> None:
    """Load an LNREPAY file into the store once (PostgreSQL: COPY + merge)."""
    from loanhub.flows.repayments import load_extract
    from loanhub.platform.receipts import FileReceiptBook

    settings = HubSettings()
    engine = _engine(url)
    upgrade(engine)
    report = load_extract(
        engine,
        path.read_bytes(),
        path.name,
        FileReceiptBook(engine),
        settings.data_dir / "files" / "core",
        settings.actor,
    )
    console.print(
        f"{report.file}: {report.state} (receipt {report.receipt}); inserted "
        f"{report.inserted}, updated {report.updated}, unchanged {report.unchanged}"
    )
    if report.state == "REJECTED":
        console.print(f"[red]rejected[/]: {report.check['rejected']}")
        raise typer.Exit(1)


@blacklist_app.command("add")
def blacklist_add(
    id_number: str,
    reason: Annotated[str, typer.Option(help="why the bank will not lend (kept, audited)")],
    by: Annotated[str, typer.Option(help="who lists it")],
    url: UrlOption = None,
) -> None:
    """List a person (resident ID) or an enterprise (USCC)."""
    from loanhub.platform import blacklist

    try:
        added = blacklist.add(_engine(url), id_number, reason, by)
    except InvalidIdentifier as exc:
        raise typer.BadParameter(str(exc), param_hint="ID_NUMBER") from exc
    console.print(f"{mask_text(id_number)}: {'listed' if added else 'already listed'}")


@blacklist_app.command("lift")
def blacklist_lift(
    id_number: str,
    by: Annotated[str, typer.Option(help="who lifts it")],
    url: UrlOption = None,
) -> None:
    """Take a party off the list (the entry is kept, stamped as lifted)."""
    from loanhub.platform import blacklist

    lifted = blacklist.lift(_engine(url), id_number, by)
    console.print(f"{mask_text(id_number)}: {'lifted' if lifted else 'was not listed'}")
    if not lifted:
        raise typer.Exit(1)


@blacklist_app.command("list")
def blacklist_list(
    all_entries: Annotated[bool, typer.Option("--all", help="lifted entries too")] = False,
    url: UrlOption = None,
) -> None:
    """The entries, identifiers masked."""
    from loanhub.platform import blacklist

    found = blacklist.entries(_engine(url), include_lifted=all_entries)
    for e in found:
        lifted = f"  lifted {e.lifted_at:%Y-%m-%d} by {e.lifted_by}" if e.lifted_at else ""
        console.print(
            f"{mask_text(e.id_number)}  {e.listed_at:%Y-%m-%d} by {e.listed_by}: {e.reason}{lifted}"
        )
    console.print(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}")


@evidence_app.command("list")
def evidence_list() -> None:
    """Every capture the bots kept: when, for which work-item kind, and why it stopped."""
    root = HubSettings().screen_evidence_dir
    captures = sorted(root.glob("*/*/*/reason.txt")) if root.exists() else []
    for reason in captures:
        lines = dict(
            line.split(": ", 1) for line in reason.read_text().splitlines() if ": " in line
        )
        console.print(f"{reason.parent}  {lines.get('key', '?')}  {lines.get('reason', '')}")
    console.print(f"{len(captures)} capture(s) under {root}")


@evidence_app.command("purge")
def evidence_purge(
    days: Annotated[
        int | None, typer.Option(help="keep this many days (default: the retention setting)")
    ] = None,
) -> None:
    """Drop screen evidence older than the retention period (screenshots and traces)."""
    from bots.evidence import ScreenEvidence  # Playwright loads only for the commands that use it

    settings = HubSettings()
    keep = days if days is not None else settings.retention.evidence_days
    gone = ScreenEvidence(settings.screen_evidence_dir, mask_text).purge(timedelta(days=keep))
    console.print(f"purged {gone} capture(s) older than {keep} days")


@bot_app.command("history")
def bot_history(id_number: str, name: str) -> None:
    """Fetch one person's contribution history from the social-security portal, as the DAG
    does (read-only: the portal records a lookup, nothing else)."""
    from bots.browser import Chromium
    from bots.evidence import ScreenEvidence
    from bots.ss.bot import SocialSecurityBot

    settings = HubSettings()
    known_names.add(name)
    with Chromium() as chromium:
        bot = SocialSecurityBot(
            settings.legacy_endpoints().ss_portal,
            chromium,
            ScreenEvidence(settings.screen_evidence_dir, mask_text),
            mask_text,
        )
        try:
            history = bot.fetch_history(id_number, name)
        except LegacyError as exc:
            console.print(f"[red]{type(exc).__name__}[/]: {exc} (evidence: {exc.evidence})")
            raise typer.Exit(1) from exc
    console.print(
        f"{mask_id(id_number)}: found={history.found}, {history.months} months from the "
        f"{history.source}, sha256 {history.raw_sha256[:16]}"
    )


@app.command("harvest")
def harvest_command(
    application_nos: Annotated[
        list[str] | None, typer.Argument(help="none: every received")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="applications per mapped task")] = 10,
    follow: Annotated[bool, typer.Option(help="follow the run with a progress bar")] = True,
) -> None:
    """Trigger a data-gathering run (credit_harvest) through Airflow's REST API, as the
    trigger form would, and follow it to the end."""
    from rich.progress import BarColumn, Progress, TextColumn

    from connectors.airflow_api import AirflowApi

    api = AirflowApi(HubSettings().airflow_api)
    conf = {"application_nos": application_nos or [], "batch_size": batch_size}
    run_id = api.trigger("credit_harvest", conf)
    console.print(f"credit_harvest run [bold]{run_id}[/] triggered")
    if not follow:
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} tasks"),
        console=console,
    ) as progress:
        bar = progress.add_task("credit_harvest", total=None)

        def show(state: str, tasks: Counter) -> None:
            done = sum(tasks[s] for s in ("success", "skipped", "failed", "upstream_failed"))
            progress.update(
                bar,
                total=max(1, sum(tasks.values())),
                completed=done,
                description=f"credit_harvest ({state})",
            )

        state = api.follow("credit_harvest", run_id, show)
    console.print(f"run {run_id}: {state}")
    if state != "success":
        raise typer.Exit(1)


@app.command("reviews")
def reviews_command(
    answer: Annotated[
        str | None, typer.Option(help="the application to answer (else: list what waits)")
    ] = None,
    option: Annotated[str, typer.Option(help="Approve, Reject or Return")] = "Approve",
    comment: Annotated[str, typer.Option(help="kept with the decision")] = "",
) -> None:
    """The credit referrals waiting for you (LOANHUB_AIRFLOW_API__USER) in Airflow's Required
    actions, or the answer to one of them: the same answer as in the UI, through the API, so
    Airflow checks that you are an assigned approver and that nobody answered first."""
    from connectors.airflow_api import AirflowApi, AirflowApiError

    api = AirflowApi(HubSettings().airflow_api)
    waiting = api.pending_reviews("credit_decision")
    if answer is None:
        for review in waiting:
            console.print(f"{review.subject}  (run {review.run_id}, #{review.map_index})")
        console.print(f"{len(waiting)} referral(s) waiting for {api.user}")
        return
    chosen = [r for r in waiting if r.subject.split(":")[0].endswith(f" {answer}")]
    if not chosen:
        console.print(f"no referral of {answer} waits for {api.user}")
        raise typer.Exit(1)
    try:
        api.answer_review(chosen[0], option, comment)
    except AirflowApiError as exc:
        console.print(f"[red]refused[/]: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"{answer}: {option} by {api.user}")


@app.command("airflow-pools")
def airflow_pools() -> None:
    """The Airflow pools, one per legacy system, sized from settings
    (``LOANHUB_ORCHESTRATION__POOLS``), in the format ``airflow pools import`` reads."""
    import json

    pools = {
        name: {
            "slots": slots,
            "description": f"calls to {name} at once (loanhub settings)",
            "include_deferred": False,
        }
        for name, slots in HubSettings().orchestration.pools.items()
    }
    typer.echo(json.dumps(pools, indent=2))


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option(help="seed of the synthetic batch")] = 7,
    applicants: Annotated[int, typer.Option(help="size of the batch")] = 40,
    url: UrlOption = None,
) -> None:
    """Migrate the embedded store, load a seeded batch of applicants, print a summary."""
    from devtools.synthetic import applicant_batch
    from loanhub.flows.intake import load_applicants

    settings = HubSettings()
    engine = _engine(url)
    upgrade(engine)
    batch = applicant_batch(seed, applicants)
    summary = load_applicants(
        engine, batch, source_ref=f"synthetic-seed-{seed}", actor=settings.actor
    )
    table = Table(title=f"intake of synthetic batch (seed {seed})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, count in (
        ("records received", summary.received),
        ("applications loaded", summary.loaded),
        ("already present (re-run)", summary.already_present),
        ("  of which persons", summary.persons),
        ("  of which enterprises", summary.enterprises),
        ("quarantined", summary.quarantined_records),
    ):
        table.add_row(label, str(count))
    console.print(table)
    for reason, count in summary.quarantined.most_common():
        console.print(f"  quarantined x{count}: {reason}")
    report = audit.verify(engine)
    console.print(f"store: {engine.url.render_as_string(hide_password=True)}")
    console.print(f"audit chain: {'intact' if report.ok else 'BROKEN'}, {report.checked} events")
    if not report.ok:
        raise typer.Exit(1)


dashboard_user_app = typer.Typer(help="Who may log in to the dashboard.", no_args_is_help=True)
app.add_typer(dashboard_user_app, name="dashboard-user")


@app.command("dashboard")
def dashboard_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8790,
) -> None:
    """Serve the monitoring dashboard on its own (it also runs inside Airflow's API server,
    under /loanhub, as a plugin). Users come from ``loanhub dashboard-user add``."""
    import uvicorn

    from loanhub.dashboard.app import create_app

    settings = HubSettings()
    if not settings.dashboard_users_path.exists():
        console.print(
            f"[yellow]no users yet ({settings.dashboard_users_path}): "
            "add one with `loanhub dashboard-user add NAME --role viewer`[/]"
        )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@dashboard_user_app.command("add")
def dashboard_user_add(
    name: str,
    role: Annotated[str, typer.Option(help="viewer or operator")] = "viewer",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Add a user (or change one's role and password); the password is kept as a hash."""
    from loanhub.dashboard.auth import Role, UserBook

    book = UserBook(HubSettings().dashboard_users_path)
    book.put(name, Role(role), password)
    console.print(f"{name}: {role}")


@dashboard_user_app.command("remove")
def dashboard_user_remove(name: str) -> None:
    """Remove a user; their open sessions end with their next request."""
    from loanhub.dashboard.auth import UserBook

    if not UserBook(HubSettings().dashboard_users_path).remove(name):
        console.print(f"[red]no user {name}[/]")
        raise typer.Exit(1)
    console.print(f"removed {name}")


@dashboard_user_app.command("list")
def dashboard_user_list() -> None:
    from loanhub.dashboard.auth import UserBook

    for name, role in UserBook(HubSettings().dashboard_users_path).names().items():
        console.print(f"{name}  {role.value}")


endpoints_app = typer.Typer(help="Where the legacy systems answer.", no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")


@endpoints_app.command("write")
def endpoints_write() -> None:
    """Write the endpoints file from ``LOANHUB_ENDPOINT_<SYSTEM>`` (JSON each; the SFTP one
    pins the host key), owner-only: what a deployment's init step runs."""
    import os

    from loanhub.runtime.settings import LegacyEndpoints

    settings = HubSettings()
    try:
        endpoints = LegacyEndpoints.from_environment(os.environ)
    except ValueError as exc:  # pydantic's ValidationError is one too
        console.print(f"[red]endpoints refused[/]: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    path = settings.endpoints_path
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.touch(mode=0o600)
    temp.write_text(endpoints.model_dump_json(indent=1), encoding="utf-8")
    temp.replace(path)
    console.print(f"wrote {path}")


@endpoints_app.command("check")
def endpoints_check() -> None:
    """Read the endpoints file as the tasks will; name each system and the pinned SFTP key."""
    settings = HubSettings()
    try:
        endpoints = settings.legacy_endpoints()
    except (OSError, ValueError) as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    console.print(f"{settings.endpoints_path}:")
    console.print(f"  bureau    {endpoints.bureau.url}")
    console.print(f"  core      {endpoints.core.url}")
    sftp = endpoints.sftp
    console.print(f"  sftp      {sftp.host}:{sftp.port} pinned {sftp.host_key.split()[0]} key")
    console.print(f"  smtp      {endpoints.smtp.host}:{endpoints.smtp.port}")
    console.print(f"  ss portal {endpoints.ss_portal.url}")
    console.print(f"  los       {endpoints.los.url} ({len(endpoints.los.users)} user(s))")


calls_app = typer.Typer(help="The journal of calls to the legacy systems.", no_args_is_help=True)
app.add_typer(calls_app, name="calls")


@calls_app.command("purge")
def calls_purge(
    days: Annotated[
        int | None, typer.Option(help="keep this many days (default: the retention setting)")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Drop journaled calls older than the retention period (the dashboard's source health and
    /metrics read the rest)."""
    from loanhub.platform.calls import CallJournal

    keep = days if days is not None else HubSettings().retention.call_days
    gone = CallJournal(_engine(url)).purge(timedelta(days=keep))
    console.print(f"purged {gone} call(s) older than {keep} days")
