"""``loanhub endpoints``: the file that tells the tasks where each legacy system answers,
written from a deployment's environment and read back the way the tasks read it."""

from __future__ import annotations

import os

import typer

from loanhub.cli.common import console, fail, first_line, settings
from loanhub.runtime.settings import LegacyEndpoints

app = typer.Typer(help="Where the legacy systems answer.", no_args_is_help=True)


@app.command("write")
def endpoints_write() -> None:
    """Write the endpoints file from ``LOANHUB_ENDPOINT_<SYSTEM>`` (JSON each; the SFTP one
    pins the host key), owner-only: what a deployment's init step runs."""
    hub = settings()
    try:
        endpoints = LegacyEndpoints.from_environment(os.environ)
    except ValueError as exc:  # pydantic's ValidationError is one too
        fail(f"endpoints refused: {first_line(exc)}")
    path = hub.endpoints_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.touch(mode=0o600)
        temp.write_text(endpoints.model_dump_json(indent=1), encoding="utf-8")
        temp.replace(path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    console.print(f"wrote {path}")


@app.command("check")
def endpoints_check() -> None:
    """Read the endpoints file as the tasks will; name each system and the pinned SFTP key."""
    hub = settings()
    try:
        endpoints = hub.legacy_endpoints()
    except (OSError, ValueError) as exc:
        fail(first_line(exc))
    console.print(f"{hub.endpoints_path}:")
    console.print(f"  bureau    {endpoints.bureau.url}")
    console.print(f"  core      {endpoints.core.url}")
    sftp = endpoints.sftp
    console.print(f"  sftp      {sftp.host}:{sftp.port} pinned {sftp.host_key.split()[0]} key")
    console.print(f"  smtp      {endpoints.smtp.host}:{endpoints.smtp.port}")
    console.print(f"  ss portal {endpoints.ss_portal.url}")
    console.print(f"  los       {endpoints.los.url} (as {endpoints.los.username})")
