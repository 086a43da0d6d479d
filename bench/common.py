"""What every benchmark shares: the result row, a timer and a scratch PostgreSQL database."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from devtools.cluster import free_port
from devtools.scratch import PG_ADMIN_URL, scratch_database, simulators_running

__all__ = [
    "PG_ADMIN_URL",
    "OpenSshServer",
    "Result",
    "free_port",
    "openssh_get",
    "rate",
    "scratch_database",
    "simulators_running",
    "wait_for_port",
]


@dataclass(frozen=True)
class Result:
    """One benchmark's figure: ``ratio`` = ours / reference, both in ``unit`` (higher is better)."""

    name: str
    ours: float
    reference: float
    unit: str
    reference_is: str
    goal: float | None = None  # the ratio the issue asks for, when it names one
    lower_is_better: bool = False  # then the goal is a ceiling

    @property
    def ratio(self) -> float:
        return self.ours / self.reference

    def as_json(self) -> dict[str, float | str | None]:
        data = asdict(self)
        del data["name"]
        return {"ratio": round(self.ratio, 3), **data}

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        if self.lower_is_better:
            return f"goal <= {self.goal}: {'met' if self.ratio <= self.goal else 'ABOVE'}"
        return f"goal >= {self.goal}: {'met' if self.ratio >= self.goal else 'BELOW'}"


def rate(count: int, action: Callable[[], None]) -> float:
    """Operations per second of ``action`` doing ``count`` operations."""
    start = time.perf_counter()
    action()
    return count / (time.perf_counter() - start)


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def openssh_get(
    port: int, user: str, key: str, known_hosts: str, remote: str, cipher: str, tmp: Path
) -> float:
    """Seconds OpenSSH's ``sftp`` takes to download ``remote`` (to /dev/null)."""
    batch = tmp / "get.txt"
    batch.write_text(f"get {remote} /dev/null\n")
    start = time.perf_counter()
    subprocess.run(
        [
            "sftp",
            "-q",
            "-b",
            str(batch),
            "-P",
            str(port),
            "-i",
            key,
            "-c",
            cipher,
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            f"{user}@127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - start


class OpenSshServer:
    """OpenSSH's sshd on a free loopback port, serving the local file system over SFTP to one
    authorized key: the physical reference of every SFTP figure."""

    def __init__(self, tmp: Path, client_pub: Path) -> None:
        self.tmp = tmp
        self.client_pub = client_pub
        self.user = os.environ.get("USER") or "root"

    def __enter__(self) -> OpenSshServer:
        Path("/run/sshd").mkdir(exist_ok=True)
        host_key = self.tmp / "sshd_host_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True
        )
        authorized = self.tmp / "authorized_keys"
        authorized.write_text(self.client_pub.read_text())
        self.port = free_port()
        config = self.tmp / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {self.tmp / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)
        self.host_key = (self.tmp / "sshd_host_ed25519.pub").read_text().strip()
        self.known_hosts = self.tmp / "sshd_known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {self.host_key}\n")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()
