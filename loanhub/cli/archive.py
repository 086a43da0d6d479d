"""``loanhub archive``: the case files of closed applications, archived once each as one
self-contained file whose SHA-256 is an audit event; listed, and verified against the chain."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from loanhub.cli.common import UrlOption, console, engine, fail, settings
from loanhub.platform.masking import mask_text

app = typer.Typer(help="The archive of closed applications' case files.", no_args_is_help=True)


@app.command("run")
def archive_run(
    application_no: Annotated[
        str | None, typer.Option("--application", help="only this application (if closed)")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Archive the case file of every closed application (rejected, or paid and settled) not
    archived yet; exit 1 when one could not be (it is tried again next time)."""
    from loanhub.flows.archive import NotClosed, archive_application, archive_closed
    from loanhub.platform.archive import ArchiveError
    from loanhub.runtime.wiring import case_archive, case_file_renderer

    hub = settings()
    store = engine(url, migrated=True)
    archive = case_archive(hub, store)
    render = case_file_renderer(hub)
    if application_no is not None:
        try:
            done = archive_application(store, archive, render, application_no)
        except (NotClosed, ArchiveError) as exc:
            fail(mask_text(str(exc)), 2)
        verb = "archived" if done.new else "already archived"
        console.print(
            f"{mask_text(application_no)} {verb} ({done.record.closed_as}): "
            f"{archive.path_of(done.record)} sha256 {done.record.sha256}"
        )
        return
    run = archive_closed(store, archive, render)
    for number in run.archived:
        record = archive.get(number)
        if record is not None:
            console.print(
                f"archived {mask_text(number)} ({record.closed_as}) sha256 {record.sha256}"
            )
    for number, reason in sorted(run.failed.items()):
        console.print(f"[red]not archived {mask_text(number)}[/]: {reason}")
    console.print(
        f"{len(run.archived)} archived, {len(run.failed)} failed, under {hub.archive_dir}"
    )
    if run.failed:
        raise typer.Exit(1)


@app.command("list")
def archive_list(url: UrlOption = None) -> None:
    """Every archived case file: application, why and when it closed, its hash and file."""
    from loanhub.runtime.wiring import case_archive

    hub = settings()
    zone = ZoneInfo(hub.timezone)
    records = case_archive(hub, engine(url, migrated=True)).records()
    for r in records:
        cleared = " personal data cleared" if r.personal_data_cleared_at else ""
        console.print(
            f"{mask_text(r.application_no)}  {r.closed_as}  "
            f"closed {r.closed_at.astimezone(zone):%Y-%m-%d %H:%M}  sha256 {r.sha256}  "
            f"{r.file_name}  event {r.audit_seq}{cleared}"
        )
    console.print(f"{len(records)} archived case file(s) under {hub.archive_dir}")


@app.command("verify")
def archive_verify(
    application_no: Annotated[str, typer.Argument(help="the application number")],
    url: UrlOption = None,
) -> None:
    """Recompute the archived file's SHA-256 and find its case.archived event in the audit
    chain; exit 1 when the file, the store and the chain disagree."""
    from loanhub.platform.archive import ArchiveError
    from loanhub.runtime.wiring import case_archive

    archive = case_archive(settings(), engine(url, migrated=True))
    try:
        check = archive.verify(application_no)
    except ArchiveError as exc:
        fail(mask_text(str(exc)), 2)
    if not check.ok:
        fail(f"archive of {mask_text(application_no)} BROKEN: {'; '.join(check.problems)}")
    console.print(
        f"archive of {mask_text(application_no)} intact: {check.path} sha256 {check.file_sha256}, "
        f"audit event {check.event_seq}"
    )
