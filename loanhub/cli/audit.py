"""``loanhub audit``: walk the store's hash-chained audit trail, as an auditor would, and
export it for a regulator with a verifier that needs neither the store nor the hub."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from sqlalchemy import Engine

from loanhub.cli.common import UrlOption, console, engine, fail, os_actor, settings
from loanhub.platform import audit as chain
from loanhub.platform import audit_checks
from loanhub.platform.audit_anchors import Anchor
from loanhub.platform.audit_keys import AuditKeyError, AuditKeyring

app = typer.Typer(help="The audit chain.", no_args_is_help=True)


def keyring() -> AuditKeyring:
    """The settings' audit keyring, or one line saying why there is none."""
    try:
        return settings().audit_keyring
    except AuditKeyError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read or make the audit key: {exc.strerror or exc}")


def anchor_head(store: Engine, ring: AuditKeyring, *, only_if_moved: bool) -> Anchor | None:
    """Anchor the head, or one line saying why it could not be written."""
    try:
        return chain.anchor(store, ring=ring, only_if_moved=only_if_moved)
    except OSError as exc:
        fail(f"cannot write an anchor in {ring.anchor_dir}: {exc.strerror or exc}")


@app.command("verify")
def audit_verify(url: UrlOption = None) -> None:
    """Walk the audit chain: every hash, link and MAC (the key is outside the store), and
    every anchor (each anchored event still there, unchanged, and the chain reaching the
    newest); print the first broken link and exit 1 if there is one. An intact chain's head
    is anchored. The result is recorded (what /metrics reports, and the chain alert reads):
    the daily hub_housekeeping run walks it too."""
    store = engine(url, migrated=True)
    ring = keyring()
    report, head = audit_checks.walk(store, ring, settings().actor)
    if not report.ok:
        reason = escape(report.reason or "")
        console.print(
            f"[red]audit chain BROKEN at event {report.broken_seq}[/]: {reason} "
            f"({report.checked} events verified before it)"
        )
        raise typer.Exit(1)
    anchor_head(store, ring, only_if_moved=True)
    console.print(
        f"audit chain intact: {report.checked} events, head {head} "
        f"(MACs checked; {report.anchors} anchor(s) held)"
    )


@app.command("anchor")
def audit_anchor(url: UrlOption = None) -> None:
    """Anchor the chain's head outside the store now (a new read-only, keyed file in
    LOANHUB_AUDIT__ANCHOR_DIR); the DAGs do it after every task and hourly."""
    store = engine(url, migrated=True)
    ring = keyring()
    made = anchor_head(store, ring, only_if_moved=False)
    if made is None:
        console.print("nothing to anchor: the audit chain is empty")
        return
    console.print(f"anchored event {made.seq} {made.hash} in {made.path}")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (YYYY-MM-DD)", 2)


@app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="the export file to write (JSON Lines)")],
    from_day: Annotated[
        str | None, typer.Option("--from", help="first day, YYYY-MM-DD, the bank's time zone")
    ] = None,
    to_day: Annotated[str | None, typer.Option("--to", help="last day (inclusive)")] = None,
    application_no: Annotated[
        str | None, typer.Option("--application", help="every event of one application")
    ] = None,
    url: UrlOption = None,
) -> None:
    """A regulator's export of the chain, for a date range (--from and --to) or one
    application: one self-contained file, sealed by an audit event, with the stdlib-only
    verifier written beside it (``python3 verify_audit_export.py FILE``)."""
    from loanhub.flows.audit_export import ExportRefused, export_application, export_range

    first, last = _day(from_day, "--from"), _day(to_day, "--to")
    by_range = first is not None or last is not None
    if by_range == (application_no is not None):
        fail("give either --from and --to, or --application", 2)
    if by_range and (first is None or last is None):
        fail("a date range needs both --from and --to", 2)
    hub = settings()
    store = engine(url, migrated=True)
    actor = os_actor()
    try:
        if first is not None and last is not None:
            zone = ZoneInfo(hub.timezone)
            summary = export_range(store, first, last, zone, out, actor=actor)
        else:
            summary = export_application(store, str(application_no), out, actor=actor)
    except ExportRefused as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    span = f"seq {summary.first_seq}..{summary.last_seq}" if summary.count else "no events"
    console.print(
        f"exported {summary.count} event(s) ({span}) to {summary.path}, sealed by event "
        f"{summary.seal_seq} {summary.seal_hash}; verify with: python3 {summary.verifier} "
        f"{summary.path}"
    )


@app.command("verify-export")
def audit_verify_export(
    file: Annotated[Path, typer.Argument(help="an export written by loanhub audit export")],
) -> None:
    """Check an export's hashes, links, count and seal without the store (what the shipped
    verifier does); exit 1 at the first problem."""
    from contracts.audit_export import ExportBroken, verify_export

    try:
        report = verify_export(file)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    except ExportBroken as exc:
        fail(f"export BROKEN at {exc}")
    console.print(report.summary())
