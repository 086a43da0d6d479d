import hashlib
import io
import os
from pathlib import Path

import asyncssh
import paramiko
import pytest

from tests.simulators.sftp_clients import openssh, paramiko_sftp


def test_openssh_sftp_with_the_pinned_host_key_uploads_and_downloads(sim, sim_endpoints, tmp_path):
    source = tmp_path / "up.bin"
    source.write_bytes(os.urandom(300_000))
    result = openssh(
        sim_endpoints,
        f"put {source} /inbox/up.bin\nget /inbox/up.bin {tmp_path / 'down.bin'}\nls /\n",
        tmp_path,
    )
    assert (tmp_path / "down.bin").read_bytes() == source.read_bytes()
    for folder in ("/inbox", "/outbox", "/extracts", "/payments"):
        assert folder in result.stdout
    uploads = sim.journal("sftp", "upload")
    assert uploads[-1]["path"] == "/inbox/up.bin"
    assert uploads[-1]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_an_unknown_host_key_is_refused_by_both_clients(sim, sim_endpoints, tmp_path):
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    s = sim_endpoints["sftp"]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[{s['host']}]:{s['port']} {stranger}\n")
    result = openssh(sim_endpoints, "ls /\n", tmp_path, known_hosts=str(wrong), check=False)
    assert result.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr
    with pytest.raises(paramiko.BadHostKeyException):
        paramiko_sftp(sim_endpoints, known_hosts=str(wrong))
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        paramiko_sftp(sim_endpoints, known_hosts=str(empty))


def test_an_unknown_client_key_is_refused(sim, sim_endpoints, tmp_path):
    other = tmp_path / "other_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_sftp(sim_endpoints, key_file=str(other))
    assert sim.journal("sftp", "auth_failed")


def test_paths_cannot_escape_the_root(sim, sim_endpoints):
    client, sftp = paramiko_sftp(sim_endpoints)
    try:
        assert sorted(sftp.listdir("/../..")) == sorted(sftp.listdir("/"))
        with pytest.raises(FileNotFoundError):
            sftp.stat("/../../etc/passwd")
        with pytest.raises(FileNotFoundError):  # relative climbing stays inside too
            sftp.stat("../../../../etc/hostname")
    finally:
        client.close()


def test_the_senders_folders_refuse_removal_and_renaming(sim, sim_endpoints):
    root = Path(sim_endpoints["sftp"]["root"])
    (root / "outbox" / "TAXR_keep.csv").write_bytes(b"x")
    client, sftp = paramiko_sftp(sim_endpoints)
    try:
        with pytest.raises(PermissionError):
            sftp.remove("/outbox/TAXR_keep.csv")
        with pytest.raises(PermissionError):
            sftp.rename("/outbox/TAXR_keep.csv", "/inbox/stolen.csv")
    finally:
        client.close()
    assert (root / "outbox" / "TAXR_keep.csv").exists()


def test_dropped_connection_mid_transfer(sim, sim_endpoints):
    root = Path(sim_endpoints["sftp"]["root"])
    (root / "extracts" / "big.bin").write_bytes(os.urandom(1_000_000))
    sim.controls({"sftp": {"read": {"fault": "drop", "rate": 1.0, "drop_after_bytes": 65536}}})
    client, sftp = paramiko_sftp(sim_endpoints)
    try:
        with pytest.raises((OSError, EOFError, paramiko.SSHException)):
            sftp.getfo("/extracts/big.bin", open(os.devnull, "wb"))  # noqa: SIM115
    finally:
        client.close()
    dropped = sim.journal("sftp", "dropped")
    assert dropped[0]["path"] == "/extracts/big.bin"
    sim.controls({"sftp": {"read": {"rate": 0.0}}})
    client, sftp = paramiko_sftp(sim_endpoints)
    try:
        with sftp.open("/extracts/big.bin") as f:
            f.prefetch()
            assert len(f.read()) == 1_000_000
    finally:
        client.close()


def test_openssh_cannot_climb_out_of_the_root_either(sim, sim_endpoints, tmp_path):
    result = openssh(
        sim_endpoints, f"get /../../etc/passwd {tmp_path / 'pw'}\n", tmp_path, check=False
    )
    assert result.returncode != 0
    assert not (tmp_path / "pw").exists()
    result = openssh(sim_endpoints, "symlink /etc/passwd /inbox/pw\n", tmp_path, check=False)
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


def test_a_crash_point_drops_the_connection_before_or_after_exactly_one_operation(
    sim, sim_endpoints
):
    inbox = Path(sim_endpoints["sftp"]["root"]) / "inbox"
    for when, renamed in (("before", False), ("after", True)):
        name = f"R-{when}.bin"
        sim.controls({"sftp": {"crash": {"at": "rename", "when": when, "path": f"/inbox/{name}"}}})
        client, sftp = paramiko_sftp(sim_endpoints)
        try:
            sftp.putfo(io.BytesIO(b"data"), f"/inbox/.{name}.part")
            with pytest.raises((EOFError, paramiko.SSHException, OSError)):
                sftp.posix_rename(f"/inbox/.{name}.part", f"/inbox/{name}")
        finally:
            client.close()
        assert (inbox / name).exists() is renamed
        assert (inbox / f".{name}.part").exists() is not renamed
    crashes = sim.journal("sftp", "crash")
    assert [(c["at"], c["when"], c["path"]) for c in crashes] == [
        ("rename", "before", "/inbox/R-before.bin"),
        ("rename", "after", "/inbox/R-after.bin"),
    ]
    client, sftp = paramiko_sftp(sim_endpoints)  # used up: the next rename goes through
    try:
        sftp.putfo(io.BytesIO(b"data"), "/inbox/.R-again.bin.part")
        sftp.posix_rename("/inbox/.R-again.bin.part", "/inbox/R-after.bin")
    finally:
        client.close()
    assert len(sim.journal("sftp", "crash")) == 2


def test_a_held_crash_point_journals_first_then_keeps_the_client_waiting(sim, sim_endpoints):
    import time

    sim.controls(
        {"sftp": {"crash": {"at": "open", "when": "before", "path": "/inbox/H.bin",
                            "action": "hold", "hold_seconds": 0.5}}}
    )  # fmt: skip
    client, sftp = paramiko_sftp(sim_endpoints)
    started = time.monotonic()
    try:
        with pytest.raises((EOFError, paramiko.SSHException, OSError)):
            sftp.putfo(io.BytesIO(b"x"), "/inbox/H.bin")
    finally:
        client.close()
    assert time.monotonic() - started >= 0.5
    assert [c["action"] for c in sim.journal("sftp", "crash")] == ["hold"]
    assert not (Path(sim_endpoints["sftp"]["root"]) / "inbox" / "H.bin").exists()


@pytest.mark.parametrize(
    "crash", [{"at": "mkdir"}, {"when": "during"}, {"action": "explode"}, {"path": 3}]
)
def test_a_mistyped_crash_point_is_refused(sim, crash):
    import requests

    answer = requests.patch(f"{sim.url}/controls", json={"sftp": {"crash": crash}}, timeout=10)
    assert answer.status_code == 400
