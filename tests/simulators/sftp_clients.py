"""Independent SFTP clients for the simulator tests: OpenSSH's sftp and paramiko, both pinned."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko


def openssh(
    endpoints: dict,
    commands: str,
    tmp_path: Path,
    known_hosts: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    s = endpoints["sftp"]
    batch = tmp_path / "batch.txt"
    batch.write_text(commands)
    return subprocess.run(
        [
            "sftp",
            "-b",
            str(batch),
            "-P",
            str(s["port"]),
            "-i",
            s["private_key"],
            "-o",
            f"UserKnownHostsFile={known_hosts or s['known_hosts']}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            f"{s['username']}@{s['host']}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def paramiko_sftp(
    endpoints: dict, known_hosts: str | None = None, key_file: str | None = None
) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
    s = endpoints["sftp"]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.load_host_keys(known_hosts or s["known_hosts"])
    client.connect(
        s["host"],
        s["port"],
        username=s["username"],
        key_filename=key_file or s["private_key"],
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client, client.open_sftp()
