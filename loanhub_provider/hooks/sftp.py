"""The SFTP exchange with its pinned host key: connection type ``loanhub_sftp``.

host, port, login; extra ``host_key`` (the server's public key, one OpenSSH line: pinned, any
other key is refused before authentication) and the client key as ``private_key_path`` (a file
on the workers) or ``private_key`` (the PEM text, a secret: written to a private temporary file
for paramiko, registered with the masker).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path
from typing import ClassVar

import paramiko

from connectors.config import SftpConfig
from connectors.sftp import SftpConnector
from kernel.failures import ContractError, LegacyError, RetryPolicy
from loanhub_provider.hooks.base import LoanhubHook

_ONCE = RetryPolicy(attempts=1)  # "Test" says what is wrong now, not after four tries


def _key_file(pem: str) -> Path:
    """The PEM text in a file only this user can read, one per key and process user."""
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"loanhub-keys-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{digest}.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(pem if pem.endswith("\n") else pem + "\n")
    return path


def fingerprint(host_key: str) -> str:
    """The OpenSSH SHA256 fingerprint of a public-key line."""
    blob = base64.b64decode(host_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class SftpHook(LoanhubHook):
    conn_type: ClassVar[str] = "loanhub_sftp"
    default_conn_name: ClassVar[str] = "loanhub_sftp"
    hook_name: ClassVar[str] = "Loanhub SFTP exchange (pinned host key)"

    def get_config(self) -> SftpConfig:
        conn = self.connection
        host_key = str(self.required(self.field("host_key"), "extra host_key (pinned key)"))
        pem = self.field("private_key")
        if pem:  # the whole key, and each line of it: a log may show one line alone
            for part in (pem, pem.strip(), *pem.strip().splitlines()[1:-1]):
                self.secret(part, f"{self.conn_id}.private_key")
        path = self.field("private_key_path")
        if not pem and not path:
            raise ValueError(f"connection {self.conn_id!r} has no private_key or private_key_path")
        return SftpConfig(
            host=str(self.required(conn.host, "host")),
            port=int(conn.port or 22),
            username=str(self.required(conn.login, "login")),
            private_key=_key_file(pem) if pem else Path(path),
            host_key=host_key.strip(),
            host_key_fingerprint=fingerprint(host_key),
        )

    def get_connector(self, system: str = "sftp") -> SftpConnector:
        return SftpConnector(self.get_config(), system=system)

    def test_connection(self) -> tuple[bool, str]:
        """A listing of the home folder over a session whose host key is the pinned one."""
        try:
            config = self.get_config()
            connector = SftpConnector(config.model_copy(update={"retry": _ONCE}))
        except (ValueError, LegacyError, paramiko.SSHException) as exc:
            return False, f"connection {self.conn_id!r} is incomplete: {exc}"
        try:
            with connector.session("test_connection") as session:
                names = session.listdir(".", regular_only=False)
        except ContractError as exc:
            if "pinned" in str(exc):
                return False, f"host key does not match the pinned key: {exc}"
            return False, f"refused by {config.host}:{config.port}: {exc}"
        except LegacyError as exc:
            return False, f"{config.host}:{config.port} not reachable: {exc}"
        return True, (
            f"listed {len(names)} entries as {config.username!r}, host key "
            f"{config.host_key_fingerprint} as pinned"
        )
