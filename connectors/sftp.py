"""SFTP with paramiko, as a bank's file exchange needs it.

- The server's host key is pinned: an unknown or changed key is refused before any credential
  is sent (``ContractError``), whatever Airflow's SSH hook would have done by default.
- Key authentication only; TCP_NODELAY on our own socket (paramiko never sets it, and every
  unpipelined request would stall on Nagle's ~40 ms).
- Downloads stream through prefetches of ``PREFETCH`` bytes (128 requests in flight at once:
  paramiko's ``max_concurrent_requests`` of 64 or less collapses to ~5 MB/s), one window after
  the other, so memory holds at most a window and the channel's, whatever the file's size.
  Uploads are pipelined, written under a temporary name, renamed into place, then triggered
  with ``.ok``.
- What an upload failure means depends on where it came (``SftpSession.upload``): before the
  rename nothing was handed over (``TransientError``); from the rename on, the counterpart may
  have the file (``OutcomeUnknown``: the flows settle it by reading the folder, never by
  sending again). Our own ``.<name>.part`` is the only thing we ever remove
  (``withdraw_part``): a partial upload is not the counterpart's file.
- Listings are read as bytes (paramiko's own listing dies on one name that is not UTF-8) and
  drop, one by one with the reason logged, every name that is not plainly a file name: path
  separators, ``.``/``..``, not UTF-8, longer than ``MAX_NAME`` bytes, or holding any
  Unicode control, format, separator, private or unassigned character (``U+0085``, ``U+2028``,
  ``U+202E``: what turns a log line or an operator's screen into something else). The rest of
  the listing goes on. Listings give regular files only, by the entry's own (lstat) type.
- A file is taken only once its ``.ok`` exists, only if it is a regular file (lstat: never a
  directory, symlink or FIFO) no larger than its kind's cap (``SftpLimits``), both checked
  before a byte is read; it streams into a fresh hidden file beside its final place, renamed
  into place only whole, removed on any failure (nothing half-written is left), with its
  SHA-256, so that the flows' receipt book can tell a re-delivery from a duplicate. Nothing in
  a counterpart's folder is deleted or renamed.
- An ``OSError`` never leaves a session raw: a refused permission or a folder that is not there
  is a ``ContractError`` (configuration), anything else a ``TransientError``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import socket
import stat
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import paramiko
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR

from connectors.config import SftpConfig
from kernel.calls import CallObserver, ignore_call, observed
from kernel.failures import ContractError, OutcomeUnknown, TransientError, with_retry
from kernel.files import private_dir

CHUNK = 1 << 20
# Measured here against OpenSSH sshd (200 MB, aes128-gcm): paramiko's defaults (2 MiB window,
# 32 KiB packets and requests) give ~70 MB/s; a 64 MiB window with 256 KiB packets and
# 255 KiB requests gives ~445 MB/s, above OpenSSH's own client. Mixing large windows with
# small packets or requests collapses to ~5-60 MB/s: the three go together.
WINDOW = 1 << 26
MAX_PACKET = 1 << 18
REQUEST = 255 * 1024
# a download's requests are in flight a window at a time (``SftpSession._prefetched``): 32 MiB
# ran at or above one whole-file prefetch against the simulator, and bounds what waits in memory
PREFETCH = 128 * REQUEST
# a download's hidden file older than this was left by a killed process (2 GiB at 1 MB/s is
# 35 minutes): the next take in that folder removes it
STALE_PART_SECONDS = 6 * 3600.0
# what a lost connection looks like in paramiko (a server's refusal is a plain OSError)
LOST = (EOFError, paramiko.SSHException, paramiko.SFTPError, ConnectionError, TimeoutError)
# the longest name taken, in UTF-8 bytes: the hub keeps a file as ``<12 hex>-<name>`` and
# writes ``<name>.ok`` beside uploads, both within the usual 255-byte limit of a file system
MAX_NAME = 200
# Unicode categories no file name of an exchange holds: controls (Cc: C0, DEL, C1 as U+0085),
# format (Cf: U+202E and the other bidi overrides, zero-width joiners), surrogates (Cs: bytes
# that were not UTF-8), line and paragraph separators (Zl, Zp: U+2028, U+2029), private use
# and unassigned code points (Co, Cn)
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"}
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


def name_problem(name: str) -> str | None:
    """Why ``name`` is not taken as a file name of an exchange; None when it is. A name that
    reaches a path, a log line or an operator's screen must not change its meaning there."""
    if not name:
        return "an empty name"
    if name in (".", ".."):
        return "a reference to a folder"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
        return f"longer than {MAX_NAME} bytes"
    for ch in name:
        if ch in "/\\":
            return "it holds a path separator"
        category = unicodedata.category(ch)
        if category == "Cs":
            return "not UTF-8"
        if category in _REFUSED_CATEGORIES:
            return f"it holds U+{ord(ch):04X} (a Unicode {category} character)"
    return None


def safe_name(name: str) -> bool:
    return name_problem(name) is None


def shown(name: str) -> str:
    """A name as a log line may show it: ASCII only (every control or bidi character escaped),
    cut to a length a line can hold."""
    text = ascii(name)
    return text if len(text) <= 120 else f"{text[:100]}...({len(name)} characters)"


def decoded(raw: bytes) -> str:
    """A name as the server sent it: UTF-8, any byte that is not kept as a surrogate (which
    ``name_problem`` then refuses) rather than failing the whole listing."""
    return raw.decode("utf-8", "surrogateescape")


def classified(exc: OSError, what: str, system: str) -> TransientError | ContractError:
    """An ``OSError`` of a session in the kernel's words: a refused permission or a path that
    is not there is configuration (``ContractError``); anything else may pass
    (``TransientError``)."""
    kind = ContractError if isinstance(exc, PermissionError | FileNotFoundError) else TransientError
    return kind(f"{what}: {exc}", system=system)


def part_name(name: str) -> str:
    """The temporary name an upload of ``name`` is written under before its rename."""
    return f".{name}.part"


def sweep_stale_parts(local_dir: Path, older_than: float = STALE_PART_SECONDS) -> list[Path]:
    """Remove the ``.take-*.part`` a killed process left in ``local_dir`` (the only way one
    outlives its download: every failure a process sees removes its own), once older than any
    download runs; a younger one may be another worker's download in progress."""
    removed = []
    now = time.time()
    for part in local_dir.glob(".take-*.part"):
        try:
            if now - part.lstat().st_mtime > older_than:
                part.unlink()
                removed.append(part)
        except FileNotFoundError:  # its owner finished or another sweep took it
            continue
    return removed


class SftpSession:
    """One authenticated SFTP session; use through ``SftpConnector.session()``."""

    def __init__(self, client: paramiko.SFTPClient, system: str) -> None:
        self.client = client
        self.system = system

    def entries(self, folder: str) -> dict[str, paramiko.SFTPAttributes]:
        """The entries of ``folder`` with their own attributes (as lstat gives them: a symlink
        is a symlink), every name refused by ``name_problem`` left out and logged with its
        reason, one by one, the rest kept."""
        kept: dict[str, paramiko.SFTPAttributes] = {}
        for raw, attrs in self._readdir(folder):
            name = decoded(raw)
            if name in (".", ".."):
                continue
            problem = name_problem(name)
            if problem is None:
                kept[name] = attrs
            else:
                log.warning(
                    "%s: ignoring a name in %s: %s: %s", self.system, folder, problem, shown(name)
                )
        return kept

    def _readdir(self, folder: str) -> list[tuple[bytes, paramiko.SFTPAttributes]]:
        """SFTP OPENDIR/READDIR with the names as bytes: paramiko's ``listdir_attr`` decodes
        them strictly, so one name that is not UTF-8 would fail the whole listing."""
        client = self.client
        path = client._adjust_cwd(folder)  # paramiko internals: its listing is str-only
        kind, msg = client._request(CMD_OPENDIR, path)
        if kind != CMD_HANDLE:
            raise TransientError(f"listing {folder}: no handle in the answer", system=self.system)
        handle = msg.get_binary()
        out: list[tuple[bytes, paramiko.SFTPAttributes]] = []
        try:
            while True:
                try:
                    kind, msg = client._request(CMD_READDIR, handle)
                except EOFError:  # paramiko's "no more entries"
                    break
                if kind != CMD_NAME:
                    raise TransientError(f"listing {folder}: not a name answer", system=self.system)
                for _ in range(msg.get_int()):
                    raw, longname = msg.get_string(), msg.get_string()
                    out.append(
                        (raw, paramiko.SFTPAttributes._from_msg(msg, decoded(raw), longname))
                    )
        finally:
            client._request(CMD_CLOSE, handle)
        return out

    def listdir(self, folder: str, *, regular_only: bool = True) -> list[str]:
        """The names in ``folder`` that ``entries`` keeps, sorted; by default only those of
        regular files (a directory, symlink or FIFO is nobody's delivery)."""
        return sorted(
            name
            for name, attrs in self.entries(folder).items()
            if not regular_only or stat.S_ISREG(attrs.st_mode or 0)
        )

    def lstat(self, path: str) -> paramiko.SFTPAttributes | None:
        """``path``'s own attributes (a symlink's, not its target's); None if absent."""
        try:
            return self.client.lstat(path)
        except FileNotFoundError:
            return None

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

    def download(self, remote: str, out: BinaryIO, *, limit: int) -> tuple[str, int]:
        """Stream ``remote`` into ``out``; returns (SHA-256, size).

        Only a regular file (lstat: a symlink, directory or FIFO is refused before it is
        opened, so a FIFO cannot hold the server's read) of at most ``limit`` bytes is read
        (``ContractError`` before a byte is read); the handle's own size is checked again once
        open, and exactly that many bytes are read: a file grown since is refused."""
        attrs = self.lstat(remote)
        if attrs is None:
            raise TransientError(f"{remote} is no longer there", system=self.system)
        self._check_taken(remote, attrs, limit)
        digest, size = hashlib.sha256(), 0
        with self.client.open(remote, "rb") as f:
            f.MAX_REQUEST_SIZE = REQUEST
            opened = f.stat()
            self._check_taken(remote, opened, limit)
            for chunk in self._prefetched(f, opened.st_size or 0):
                size += len(chunk)
                digest.update(chunk)
                out.write(chunk)
            if f.read(1):  # grew since it was opened: not what the stat and its cap said
                raise ContractError(
                    f"{remote} grew past the {size} bytes it had when opened: refused",
                    system=self.system,
                )
        return digest.hexdigest(), size

    @staticmethod
    def _prefetched(f: paramiko.SFTPFile, size: int) -> Iterator[bytes]:
        """The file's bytes, one prefetched response at a time, prefetched a window of
        ``PREFETCH`` bytes at a time: all requests of a window are in flight at once (what
        keeps the speed), and no more than a window waits in memory when the disk we write
        to is slower than the network (a single whole-file prefetch would buffer the rest of
        a 600 MB file)."""
        for start in range(0, size, PREFETCH):
            end = min(size, start + PREFETCH)
            yield from f.readv([(o, min(REQUEST, end - o)) for o in range(start, end, REQUEST)])

    def _check_taken(self, remote: str, attrs: paramiko.SFTPAttributes, limit: int) -> None:
        mode = attrs.st_mode or 0
        if not stat.S_ISREG(mode):
            raise ContractError(
                f"{remote} is not a regular file (mode {stat.filemode(mode)}): not taken",
                system=self.system,
            )
        if (attrs.st_size or 0) > limit:
            raise ContractError(
                f"{remote} is {attrs.st_size} bytes, above its cap of {limit}: refused before "
                "download",
                system=self.system,
            )

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
        """Whether ``path`` itself is a regular file (a symlink to one is not)."""
        attrs = self.lstat(path)
        return attrs is not None and stat.S_ISREG(attrs.st_mode or 0)


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
            except OSError as exc:  # a server's refusal (or our disk's): never raw
                raise classified(exc, operation, self.system) from exc
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
        self,
        session: SftpSession,
        folder: str,
        name: str,
        local_dir: Path,
        *,
        limit: int | None = None,
    ) -> TakenFile | None:
        """Download ``folder/name`` if its ``.ok`` trigger exists; None while it does not.
        Kept as ``<first 12 of its SHA-256>-<name>``, so each delivery is kept apart;
        ``limit`` is its kind's cap (``SftpLimits``; ``other`` when not given)."""
        problem = name_problem(name)
        if problem is not None:
            raise ContractError(f"file name refused: {problem}: {shown(name)}", system=self.system)
        if not session.exists(f"{folder}/{name}.ok"):
            return None
        return self.fetch(session, folder, name, local_dir, limit=limit)

    def fetch(
        self,
        session: SftpSession,
        folder: str,
        name: str,
        local_dir: Path,
        *,
        limit: int | None = None,
        keep_as: str | None = None,
    ) -> TakenFile:
        """Stream ``folder/name`` into ``local_dir``: into a fresh hidden ``.part`` of our own
        (``mkstemp``: 0600, a short name of its own whatever the remote name is), renamed to
        ``keep_as`` (default ``<12 hex of SHA-256>-<name>``) only once whole; on any failure
        the ``.part`` is removed, so nothing half-written is ever left. A local disk that
        refuses is a ``ContractError`` (permission) or ``TransientError`` (full)."""
        problem = name_problem(name)
        if problem is not None:
            raise ContractError(f"file name refused: {problem}: {shown(name)}", system=self.system)
        cap = self.config.limits.other if limit is None else limit
        try:
            private_dir(local_dir)  # 0700, an old install's 0755 tightened
            sweep_stale_parts(local_dir)
            handle, temp_name = tempfile.mkstemp(prefix=".take-", suffix=".part", dir=local_dir)
        except OSError as exc:
            raise classified(exc, f"cannot write into {local_dir}", self.system) from exc
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                digest, size = session.download(f"{folder}/{name}", out, limit=cap)
            path = local_dir / (keep_as or f"{digest[:12]}-{name}")
            temp.replace(path)
        except BaseException as exc:
            temp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
                raise classified(exc, f"taking {folder}/{name}", self.system) from exc
            raise
        return TakenFile(name, path, digest, size)
