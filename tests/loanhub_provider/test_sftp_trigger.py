"""The SFTP file trigger on an event loop against the SFTP simulator, as the triggerer runs it:
it reads the ``loanhub_sftp`` connection from ``AIRFLOW_CONN_*``, fires once the file and its
``.ok`` are there (not before, not for a delivery already seen), refuses a host key other than
the pinned one, and imports nothing of the hub's store or runtime."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from devtools.sim_connections import sftp_connection_env
from kernel.failures import ContractError
from loanhub_provider.triggers.sftp import SftpFileTrigger

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def extracts(monkeypatch, sim, sim_endpoints) -> Path:
    for name, value in sftp_connection_env(sim_endpoints).items():
        monkeypatch.setenv(name, value)
    folder = Path(sim_endpoints["sftp"]["root"]) / "extracts"
    for old in folder.glob("TRG*"):
        old.unlink()
    return folder


def serialised(trigger: SftpFileTrigger) -> SftpFileTrigger:
    """The trigger as the triggerer builds it: from its serialised (JSON) arguments only."""
    _, kwargs = trigger.serialize()
    return SftpFileTrigger(**json.loads(json.dumps(kwargs)))


async def first_event(trigger: SftpFileTrigger, seconds: float) -> dict | None:
    events = serialised(trigger).run()
    try:
        return (await asyncio.wait_for(anext(events), seconds)).payload
    except TimeoutError:
        return None
    finally:
        await events.aclose()


def test_fires_once_the_file_and_its_ok_are_there_and_not_for_a_delivery_seen(extracts):
    trigger = SftpFileTrigger("/extracts", r"TRG\d\.dat", poke_seconds=0.1)

    async def scenario() -> tuple[dict | None, dict | None]:
        (extracts / "TRG1.dat").write_bytes(b"abc")
        before = await first_event(trigger, 1.0)  # the file without its .ok: not yet
        waiting = asyncio.create_task(first_event(trigger, 10))
        await asyncio.sleep(0.5)
        (extracts / "TRG1.dat.ok").write_bytes(b"")
        return before, await waiting

    before, event = asyncio.run(scenario())
    assert before is None
    assert event is not None
    assert event["folder"] == "/extracts"
    assert list(event["files"]) == ["TRG1.dat"]
    seen = SftpFileTrigger("/extracts", r"TRG\d\.dat", seen=event["files"], poke_seconds=0.1)
    assert asyncio.run(first_event(seen, 1.0)) is None  # that delivery was seen: wait past it
    (extracts / "TRG1.dat").write_bytes(b"abcd")  # delivered again
    again = asyncio.run(first_event(seen, 10))
    assert again is not None
    assert again["files"]["TRG1.dat"] != event["files"]["TRG1.dat"]


def test_without_require_ok_the_name_alone_fires(extracts):
    (extracts / "TRG2.dat").write_bytes(b"whole, renamed into place")
    trigger = SftpFileTrigger("/extracts", r"TRG2\.dat", require_ok=False, poke_seconds=0.1)
    event = asyncio.run(first_event(trigger, 10))
    assert event is not None
    assert list(event["files"]) == ["TRG2.dat"]


def test_recheck_fires_with_no_files_after_its_time(extracts):
    trigger = SftpFileTrigger("/extracts", r"TRG9\.dat", poke_seconds=0.1, recheck_seconds=0.5)
    assert asyncio.run(first_event(trigger, 10)) == {"folder": "/extracts", "files": {}}


def test_a_host_key_other_than_the_pinned_one_fails_the_wait(monkeypatch, sim, sim_endpoints):
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    endpoints = {**sim_endpoints, "sftp": {**sim_endpoints["sftp"], "host_key": other}}
    for name, value in sftp_connection_env(endpoints).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ContractError, match="not the pinned"):
        asyncio.run(first_event(SftpFileTrigger("/extracts", ".*", poke_seconds=0.1), 10))
    assert sim.journal("sftp") == []  # refused before authentication


def test_the_trigger_module_builds_nothing_of_the_hub():
    """What the triggerer loads with the trigger and its client, beyond Airflow itself: no
    store driver, nothing of the hub's runtime, flows, platform, schemas, bots."""
    probe = """
import sys
import airflow.sdk, airflow.triggers.base  # the triggerer has these already
before = set(sys.modules)
import loanhub_provider.triggers.sftp, connectors.sftp_async
new = set(sys.modules) - before
hub = ("loanhub", "schemas", "mappings", "bots", "sqlalchemy", "psycopg", "psycopg2", "alembic")
print(sorted(m for m in new if m.split(".")[0] in hub))
print("connectors.sftp_async" in new)
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]", "True"]
