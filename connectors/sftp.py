"""SFTP with paramiko, as a bank's file exchange needs it.

- The server's host key is pinned: an unknown or changed key is refused before any credential
  is sent (``ContractError``), whatever Airflow's SSH hook would have done by default.
- Key authentication only; TCP_NODELAY on our own socket (paramiko never sets it, and every
  unpipelined request would stall on Nagle's ~40 ms).
- Downloads stream through one prefetch with paramiko's default (unbounded) concurrency: a
  limit of 64 or less collapses to ~5 MB/s. Uploads are pipelined, written under a temporary
  name, renamed into place, then triggered with ``.ok``.
- What an upload failure means depends on where it came (``SftpSession.upload``): before the
  rename nothing was handed over (``TransientError``); from the rename on, the counterpart may
  have the file (``OutcomeUnknown``: the flows settle it by reading the folder, never by
  sending again). Our own ``.<name>.part`` is the only thing we ever remove
  (``withdraw_part``): a partial upload is not the counterpart's file.
- Listings drop names that could escape a folder (separators, ``..``, control characters).
- A file is taken only once its ``.ok`` exists, with its SHA-256, so that the flows' receipt
  book can tell a re-delivery from a duplicate. Nothing in a counterpart's folder is deleted
  or renamed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import paramiko

from connectors.config import SftpConfig
from kernel.calls import CallObserver, ignore_call, observed
from kernel.failures import ContractError, OutcomeUnknown, TransientError, with_retry
from kernel.files import open_private, private_dir

CHUNK = 1 << 20
# Measured here against OpenSSH sshd (200 MB, aes128-gcm): paramiko's defaults (2 MiB window,
# 32 KiB packets and requests) give ~70 MB/s; a 64 MiB window with 256 KiB packets and
# 255 KiB requests gives ~445 MB/s, above OpenSSH's own client. Mixing large windows with
# small packets or requests collapses to ~5-60 MB/s: the three go together.
WINDOW = 1 << 26
MAX_PACKET = 1 << 18
REQUEST = 255 * 1024
# what a lost connection looks like in paramiko (a server's refusal is a plain OSError)
LOST = (EOFError, paramiko.SSHException, paramiko.SFTPError, ConnectionError, TimeoutError)
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|^\.\.?$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TakenFile:
    name: str
    path: Path
    sha256: str
    size: int


def pinned_key(config: SftpConfig) -> paramiko.PKey:
    kind, data = config.host_key.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(data))


def safe_name(name: str) -> bool:
    return not _UNSAFE_NAME.search(name)


def part_name(name: str) -> str:
    """The temporary name an upload of ``name`` is written under before its rename."""
    return f".{name}.part"


class SftpSession:
    """One authenticated SFTP session; use through ``SftpConnector.session()``."""

    def __init__(self, client: paramiko.SFTPClient, system: str) -> None:
        self.client = client
        self.system = system

    def listdir(self, folder: str) -> list[str]:
        """Names in ``folder``, without any name that could escape it."""
        names = self.client.listdir(folder)
        unsafe = [n for n in names if not safe_name(n)]
        if unsafe:
            log.warning("%s: ignoring unsafe names in %s: %r", self.system, folder, unsafe)
        return sorted(n for n in names if safe_name(n))

    def exists(self, path: str) -> bool:
        return self.version(path) is not None

    def version(self, path: str) -> str | None:
        """Which delivery of ``path`` is there (its size and modification time, as SFTP reports
        them), so a file written again is told from the one seen before; None if absent."""
        try:
            attrs = self.client.stat(path)
        except FileNotFoundError:
            return None
        return f"{attrs.st_size}@{attrs.st_mtime}"

    def modified_at(self, path: str) -> datetime | None:
        """When ``path`` was last written, by the server's clock; None if absent."""
        try:
            attrs = self.client.stat(path)
        except FileNotFoundError:
            return None
        return None if attrs.st_mtime is None else datetime.fromtimestamp(attrs.st_mtime, UTC)

    def download(self, remote: str, out: BinaryIO) -> tuple[str, int]:
        """Stream ``remote`` into ``out``; returns (SHA-256, size)."""
        digest, size = hashlib.sha256(), 0
        with self.client.open(remote, "rb") as f:
            f.MAX_REQUEST_SIZE = REQUEST
            f.prefetch(f.stat().st_size)
            while chunk := f.read(REQUEST):  # one prefetched response at a time
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def upload(self, data: BinaryIO, folder: str, name: str, *, trigger: bool) -> None:
        """Write under ``.<name>.part``, rename into place, then (optionally) ``<name>.ok``.

        The kinds say what the counterpart may have:
        - a failure while writing the ``.part``, a ``.part`` shorter than what was sent (the
          size is checked before the rename), or the server refusing the rename, is a
          ``TransientError`` (``ContractError`` when the folder is not ours to write):
          nothing is in place (the ``.part`` is removed when the
          connection still allows it; opening it again truncates it, and the flows withdraw
          what a killed upload left);
        - the rename's answer lost, or any failure after the rename (the ``.ok`` not written,
          its answer lost) is ``OutcomeUnknown``: the file may be in place, triggered or not.
        """
        if not safe_name(name):
            raise ContractError(f"refusing to upload under an unsafe name {name!r}")
        temp, final = f"{folder}/{part_name(name)}", f"{folder}/{name}"
        sent = 0
        try:
            with self.client.open(temp, "wb") as f:
                f.MAX_REQUEST_SIZE = REQUEST
                f.set_pipelined(True)
                while chunk := data.read(CHUNK):
                    f.write(chunk)
                    sent += len(chunk)
            kept = self.client.stat(temp).st_size
        except LOST as exc:
            raise TransientError(
                f"upload of {name} cut off before its rename: nothing sent ({exc})",
                system=self.system,
            ) from exc
        except PermissionError as exc:  # a folder we may not write: configuration, not load
            raise ContractError(
                f"upload of {name} refused: nothing sent ({exc})", system=self.system
            ) from exc
        except OSError as exc:
            self._discard(temp)
            raise TransientError(
                f"upload of {name} refused: nothing sent ({exc})", system=self.system
            ) from exc
        if kept != sent:  # acknowledged but not all kept (a full disk the server hid)
            self._discard(temp)
            raise TransientError(
                f"upload of {name}: the server kept {kept} of {sent} bytes; not renamed, "
                "nothing sent",
                system=self.system,
            )
        try:
            self.client.posix_rename(temp, final)
        except LOST as exc:
            raise OutcomeUnknown(
                f"the answer to renaming {name} into place was lost: it may be there ({exc})",
                system=self.system,
            ) from exc
        except OSError as exc:  # the server answered: not renamed, so nothing is in place
            self._discard(temp)
            raise TransientError(
                f"rename of {name} refused: nothing sent ({exc})", system=self.system
            ) from exc
        if trigger:
            self.trigger(folder, name)

    def trigger(self, folder: str, name: str) -> None:
        """``write_trigger`` for a file that is in place and whole, its failure named for what
        the counterpart may have: the file, triggered or not (``OutcomeUnknown``)."""
        try:
            self.write_trigger(folder, name)
        except (*LOST, OSError) as exc:
            raise OutcomeUnknown(
                f"{name} is in place but its .ok may not be ({exc})", system=self.system
            ) from exc

    def write_trigger(self, folder: str, name: str) -> None:
        """Write ``<name>.ok``: the counterpart takes ``name`` from then on."""
        with self.client.open(f"{folder}/{name}.ok", "wb"):
            pass

    def withdraw_part(self, folder: str, name: str) -> bool:
        """Remove our own unfinished ``.<name>.part`` (a killed upload's), if it is there;
        True if one was removed. Never touches the counterpart's files."""
        try:
            self.client.remove(f"{folder}/{part_name(name)}")
        except FileNotFoundError:
            return False
        return True

    def _discard(self, path: str) -> None:
        """Best effort: a refused upload's ``.part`` goes, if the connection still allows."""
        try:
            self.client.remove(path)
        except (*LOST, OSError):
            log.info(
                "%s: could not remove %s (the next upload or withdrawal will)", self.system, path
            )

    def is_file(self, path: str) -> bool:
        try:
            return stat.S_ISREG(self.client.stat(path).st_mode or 0)
        except FileNotFoundError:
            return False


class SftpConnector:
    """The hook: owns the connection to one SFTP exchange and its protocol."""

    system = "sftp"

    def __init__(
        self,
        config: SftpConfig,
        system: str | None = None,
        *,
        observer: CallObserver = ignore_call,
    ) -> None:
        self.config = config
        self.system = system or self.system
        self.observer = observer
        self._pinned = pinned_key(config)

    @contextmanager
    def session(self, operation: str = "session") -> Iterator[SftpSession]:
        """One authenticated session, reported to the observer as one call named
        ``operation`` (connect, the moves made in it, close)."""
        with observed(self.observer, self.system, operation):
            transport = with_retry(self._connect, self.config.retry, what=f"{self.system} connect")
            try:
                client = paramiko.SFTPClient.from_transport(
                    transport, window_size=WINDOW, max_packet_size=MAX_PACKET
                )
                client.get_channel().settimeout(self.config.io_timeout)  # a stalled server fails
                yield SftpSession(client, self.system)
            except (EOFError, paramiko.SSHException, ConnectionError, TimeoutError) as exc:
                raise TransientError(f"connection lost: {exc}", system=self.system) from exc
            finally:
                transport.close()

    def _connect(self) -> paramiko.Transport:
        try:
            sock = socket.create_connection(
                (self.config.host, self.config.port), timeout=self.config.connect_timeout
            )
        except OSError as exc:
            raise TransientError(f"cannot connect: {exc}", system=self.system) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(
            sock, default_window_size=WINDOW, default_max_packet_size=MAX_PACKET
        )
        if self.config.ciphers:
            transport.get_security_options().ciphers = self.config.ciphers
        try:
            transport.start_client(timeout=self.config.connect_timeout)
            offered = transport.get_remote_server_key()
            if (offered.get_name(), offered.asbytes()) != (
                self._pinned.get_name(),
                self._pinned.asbytes(),
            ):
                raise ContractError(
                    f"host key {offered.get_name()} {offered.fingerprint} is not the pinned "
                    f"{self.config.host_key_fingerprint or self._pinned.fingerprint}: refused "
                    "before authentication",
                    system=self.system,
                )
            key = paramiko.PKey.from_path(self.config.private_key)
            transport.auth_publickey(self.config.username, key)
        except paramiko.AuthenticationException as exc:
            transport.close()
            raise ContractError(f"authentication refused: {exc}", system=self.system) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise TransientError(f"handshake failed: {exc}", system=self.system) from exc
        except ContractError:
            transport.close()
            raise
        return transport

    # -- higher-level moves ----------------------------------------------------------------------

    def put_bytes(self, data: bytes, folder: str, name: str, *, trigger: bool = True) -> None:
        with self.session(f"upload {folder}") as s:
            s.upload(io.BytesIO(data), folder, name, trigger=trigger)

    def take(
        self, session: SftpSession, folder: str, name: str, local_dir: Path
    ) -> TakenFile | None:
        """Download ``folder/name`` if its ``.ok`` trigger exists; None while it does not."""
        if not safe_name(name):
            raise ContractError(f"unsafe file name {name!r}", system=self.system)
        if not session.exists(f"{folder}/{name}.ok"):
            return None
        private_dir(local_dir)
        temp = local_dir / f".{name}.part"
        with open_private(temp) as out:
            digest, size = session.download(f"{folder}/{name}", out)
        path = local_dir / f"{digest[:12]}-{name}"
        temp.replace(path)
        return TakenFile(name, path, digest, size)
