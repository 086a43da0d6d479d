"""A hostile counterpart on the SFTP simulator: names built to fool a log line or a path, things
that are not files in place of a delivery, files above their cap, transfers cut mid-way. Each
is refused one by one, in the kernel's words, and leaves nothing half-written behind."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.payments import PaymentGatewayConnector
from connectors.sftp import MAX_NAME, SftpConnector, name_problem
from connectors.sftp_async import AsyncSftpClient, SftpTarget
from kernel.failures import ContractError, LegacyError, TransientError
from tests.connectors.conftest import sftp_config
from tests.connectors.test_payments import BANK, DEBTOR

HOSTILE = [
    "nel\u0085name.xml",  # NEL: a line break to many log viewers
    "line\u2028sep.xml",  # LINE SEPARATOR
    "para\u2029sep.xml",  # PARAGRAPH SEPARATOR
    "report\u202elmx.xml",  # RIGHT-TO-LEFT OVERRIDE: shows as "reportxml.xml"-like
    "zero\u200bwidth.xml",  # ZERO WIDTH SPACE (Cf)
    "bom\ufeff.xml",  # BYTE ORDER MARK (Cf)
    "bell\x07.xml",  # C0 control
    "esc\x1b[31m.xml",  # a terminal escape
    "del\x7f.xml",  # DEL
    "c1\x9b.xml",  # C1 control (CSI)
    "private\ue000.xml",  # private use (Co)
    "x" * 251,  # too long: kept as <12 hex>-<name> it would pass 255 bytes
]


@pytest.fixture
def sftp(sim_endpoints) -> SftpConnector:
    return SftpConnector(sftp_config(sim_endpoints), system="core")


def root(sim_endpoints) -> Path:
    return Path(sim_endpoints["sftp"]["root"])


@pytest.fixture
def scratch(sim_endpoints) -> Iterator[tuple[Path, str]]:
    """A folder of its own in the exchange's /outbox (local path, SFTP path), removed after:
    the simulator is shared, and hostile names must not reach another test's listing."""
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    local = root(sim_endpoints) / "outbox" / name
    local.mkdir()
    yield local, f"/outbox/{name}"
    shutil.rmtree(local)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_name_is_refused_with_a_reason(name):
    assert name_problem(name) is not None


@pytest.mark.parametrize("name", ["LNREPAY.D261120", "MSG-1.2.pain002.xml", "回执 2026.xml"])
def test_plain_names_pass(name):
    assert name_problem(name) is None


def test_a_listing_refuses_hostile_names_one_by_one_and_goes_on(sim, sftp, scratch, caplog):
    inbox, remote = scratch
    for name in HOSTILE:
        (inbox / name).write_bytes(b"x")
    (inbox / os.fsdecode(b"latin1-\xe9.xml")).write_bytes(b"x")  # not UTF-8 on the wire
    (inbox / "good.xml").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="connectors.sftp"), sftp.session() as s:
        names = s.listdir(remote)
    assert names == ["good.xml"]
    refused = [r.getMessage() for r in caplog.records if "ignoring a name" in r.getMessage()]
    assert len(refused) == len(HOSTILE) + 1  # one line per name, each with its reason
    assert any("not UTF-8" in line for line in refused)
    assert any(f"longer than {MAX_NAME} bytes" in line for line in refused)
    for line in refused:  # the log line itself carries no control or bidi character
        assert line.isascii()
        assert "\n" not in line


def test_the_async_listing_refuses_the_same_names_and_non_files(sim, sim_endpoints, scratch):
    extracts, remote = scratch
    for name in HOSTILE:
        (extracts / name).write_bytes(b"x")
        if len(name) < 250:
            (extracts / f"{name}.ok").write_bytes(b"")
    (extracts / os.fsdecode(b"latin1-\xe9.dat")).write_bytes(b"x")
    (extracts / "good.dat").write_bytes(b"x")
    (extracts / "good.dat.ok").write_bytes(b"")
    (extracts / "dir.dat").mkdir()
    (extracts / "dir.dat.ok").write_bytes(b"")
    (extracts / "link.dat").symlink_to("/etc/passwd")
    (extracts / "link.dat.ok").write_bytes(b"")
    base = SftpTarget.from_config(sftp_config(sim_endpoints))

    async def look() -> dict[str, str]:
        async with AsyncSftpClient(base, system="core").session() as s:
            return await s.delivered(remote, r".*\.dat", require_ok=True)

    assert list(asyncio.run(look())) == ["good.dat"]


def test_the_pain002_listing_survives_long_names_and_things_that_are_not_files(
    sim, sim_endpoints, tmp_path
):
    out = root(sim_endpoints) / "payments" / "out"
    gateway = PaymentGatewayConnector(
        SftpConnector(sftp_config(sim_endpoints), system="gateway"),
        DEBTOR,
        tmp_path / "payments",
        zone=BANK,
    )
    msg = "MSG-HOSTILE"
    long_number = "9" * (250 - len(f"{msg}..pain002.xml"))
    hostile = {
        f"{msg}.{long_number}.pain002.xml": "file",  # 250 characters
        f"{msg}.2.pain002.xml": "dir",
        f"{msg}.3.pain002.xml": "symlink",
        f"{msg}.4.pain002.xml": "fifo",
        f"{msg}.٥.pain002.xml": "file",  # an Arabic-Indic digit: \d took it
    }
    for name, kind in hostile.items():
        path = out / name
        if kind == "file":
            path.write_bytes(b"<x/>")
        elif kind == "dir":
            path.mkdir()
        elif kind == "symlink":
            path.symlink_to("/etc/passwd")  # outside the exchange's root
        else:
            os.mkfifo(path)  # opening it would hold the server's read forever
        (out / f"{name}.ok").write_bytes(b"")
    (out / f"{msg}.1.pain002.xml").write_bytes(b"<report/>")
    (out / f"{msg}.1.pain002.xml.ok").write_bytes(b"")
    try:
        taken = gateway.report_files(msg)
    finally:
        for path in out.glob(f"{msg}.*"):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
    assert [t.name for t in taken] == [f"{msg}.1.pain002.xml"]
    assert [p.name for p in (tmp_path / "payments").iterdir()] == [taken[0].path.name]
    served = [d["path"] for d in sim.journal("sftp", "download")]
    assert served == [f"/payments/out/{msg}.1.pain002.xml"]  # nothing else was opened


@pytest.mark.parametrize("kind", ["dir", "symlink", "fifo"])
def test_a_non_file_in_place_of_a_delivery_is_refused_and_leaves_no_part(
    sim, sftp, scratch, tmp_path, kind
):
    outbox, remote = scratch
    name = f"ANSWER-{kind}.csv"
    path = outbox / name
    if kind == "dir":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to("/etc/passwd")
    else:
        os.mkfifo(path)
    (outbox / f"{name}.ok").write_bytes(b"")
    with pytest.raises(ContractError, match="not a regular file"), sftp.session() as s:
        sftp.take(s, remote, name, tmp_path / "kept")
    assert leftovers(tmp_path / "kept") == []
    assert sim.journal("sftp", "download") == []  # never opened


def test_a_file_above_its_cap_is_refused_before_download(sim, sim_endpoints, scratch, tmp_path):
    config = sftp_config(sim_endpoints).model_copy(
        update={"limits": sftp_config(sim_endpoints).limits.model_copy(update={"other": 1000})}
    )
    sftp = SftpConnector(config, system="core")
    outbox, remote = scratch
    (outbox / "BIG.csv").write_bytes(b"x" * 1001)
    (outbox / "BIG.csv.ok").write_bytes(b"")
    with pytest.raises(ContractError, match="above its cap of 1000"), sftp.session() as s:
        sftp.take(s, remote, "BIG.csv", tmp_path)
    assert sim.journal("sftp", "download") == []
    assert leftovers(tmp_path) == []
    (outbox / "SMALL.csv").write_bytes(b"x" * 1000)  # at the cap: taken
    (outbox / "SMALL.csv.ok").write_bytes(b"")
    with sftp.session() as s:
        assert sftp.take(s, remote, "SMALL.csv", tmp_path).size == 1000


def test_the_extract_cap_is_its_own(sim, sim_endpoints, tmp_path):
    from datetime import date

    from connectors.extracts import CoreExtracts

    base = sftp_config(sim_endpoints)
    config = base.model_copy(update={"limits": base.limits.model_copy(update={"extract": 100})})
    big = root(sim_endpoints) / "extracts" / "LNREPAY.D310101"  # a day no other test uses
    big.write_bytes(b"x" * 101)
    extracts = CoreExtracts(SftpConnector(config, system="core"), tmp_path / "ex")
    try:
        with pytest.raises(ContractError, match="above its cap of 100"):
            extracts.take(date(2031, 1, 1))
    finally:
        big.unlink()
    assert leftovers(tmp_path / "ex") == []


def test_a_download_cut_midway_leaves_nothing_half_written(sim, sftp, scratch, tmp_path):
    folder, remote = scratch
    (folder / "D.dat").write_bytes(os.urandom(500_000))
    (folder / "D.dat.ok").write_bytes(b"")
    sim.controls({"sftp": {"read": {"fault": "drop", "times": 1, "drop_after_bytes": 65536}}})
    with pytest.raises(TransientError), sftp.session() as s:
        sftp.take(s, remote, "D.dat", tmp_path / "kept")
    assert leftovers(tmp_path / "kept") == []


def test_os_errors_never_leave_a_session_raw(sim, sftp, scratch, tmp_path):
    folder, remote = scratch
    (folder / "A.csv").write_bytes(b"x")
    (folder / "A.csv.ok").write_bytes(b"")
    blocked = tmp_path / "not-a-dir"
    blocked.write_bytes(b"")  # our own folder is a file: the local write fails
    with pytest.raises(LegacyError, match="cannot write into"), sftp.session() as s:
        sftp.take(s, remote, "A.csv", blocked)
    with pytest.raises(ContractError), sftp.session() as s:
        s.listdir("/no-such-folder")
    with pytest.raises(ContractError), sftp.session() as s:
        s.client.open("/outbox/none", "rb")  # any refusal inside a session is classified
    with pytest.raises(LegacyError), sftp.session() as s:
        s.client.mkdir("/outbox/x")  # a read-only folder's refusal


def test_a_hostile_name_is_refused_by_take_itself(sftp, sim, tmp_path):
    for name in ("a\u2028b", "x" * 251, "../x"):
        with pytest.raises(ContractError, match="file name refused"), sftp.session() as s:
            sftp.take(s, "/outbox", name, tmp_path)


def test_a_server_failure_on_a_stat_is_classified_in_both_clients(sim, sftp, sim_endpoints):
    too_long = "/outbox/" + "y" * 300  # the server's file system refuses it (ENAMETOOLONG)
    with pytest.raises(LegacyError), sftp.session() as s:
        s.exists(too_long)
    base = SftpTarget.from_config(sftp_config(sim_endpoints))

    async def ask() -> str | None:
        async with AsyncSftpClient(base, system="core").session() as s:
            return await s.version(too_long)

    with pytest.raises(LegacyError):
        asyncio.run(ask())


def test_a_killed_downloads_hidden_file_is_swept_by_the_next_take(sim, sftp, scratch, tmp_path):
    folder, remote = scratch
    (folder / "N.csv").write_bytes(b"next")
    (folder / "N.csv.ok").write_bytes(b"")
    kept = tmp_path / "kept"
    kept.mkdir()
    stale, fresh = kept / ".take-dead.part", kept / ".take-busy.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"another worker's, in progress")
    os.utime(stale, (1, 1))  # from 1970: no download runs that long
    with sftp.session() as s:
        sftp.take(s, remote, "N.csv", kept)
    assert not stale.exists()
    assert fresh.exists()
