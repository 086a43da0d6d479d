"""SFTP on asyncssh, for the waits that run on an event loop (Airflow's triggerer).

A wait asks one question many times: "is the file there, with its ``.ok``?". On the
triggerer's loop that must not block (paramiko in a thread holds a thread per wait), and it
must not build anything of the hub: this is a plain protocol client, as ``connectors.sftp``
is, with the same rules:

- the server's host key is pinned: the only trusted key is the pinned OpenSSH line, so an
  unknown or changed key is refused during the key exchange, before any credential is sent
  (``ContractError``); there is no "accept unknown" path;
- key authentication only (no password, no agent, no ``~/.ssh/config``);
- every step has a deadline: connect and each SFTP request (``TransientError`` when it passes);
- listings are read as bytes and drop, one by one with the reason logged, every name
  ``connectors.sftp.name_problem`` refuses (separators, not UTF-8, too long, Unicode control
  and format characters) and every entry that is not a regular file by its own (lstat) type;
  a delivery is named by size and modification time, as ``SftpSession.version`` names it;
- no ``OSError`` or asyncssh error leaves a session raw.

Errors speak the kernel's vocabulary: ``TransientError`` for a refused, dropped or stalled
connection (ask again later), ``ContractError`` for a wrong host key, a refused key or a folder
that is not there or not ours to read (configuration: asking again will not help).
"""

from __future__ import annotations

import asyncio
import logging
import re
import stat
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncssh

from connectors.config import SftpConfig
from connectors.sftp import decoded, name_problem, shown
from kernel.failures import ContractError, TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)
# what a lost or stalled connection looks like in asyncssh (a wrong host key and a refused key
# are also asyncssh errors: they are told apart first)
LOST = (asyncssh.Error, OSError, TimeoutError, EOFError)


@dataclass(frozen=True)
class SftpTarget:
    """Where and as whom to connect: what an Airflow connection (or ``SftpConfig``) names.
    The key is given as a file (``private_key_path``) or as its PEM text (``private_key``)."""

    host: str
    port: int
    username: str
    host_key: str  # the pinned OpenSSH public-key line
    private_key_path: Path | None = None
    private_key: str | None = field(default=None, repr=False)  # a secret: never printed
    connect_timeout: float = 10.0
    io_timeout: float = 30.0

    @classmethod
    def from_config(cls, config: SftpConfig) -> SftpTarget:
        return cls(
            host=config.host,
            port=config.port,
            username=config.username,
            host_key=config.host_key,
            private_key_path=config.private_key,
            connect_timeout=config.connect_timeout,
            io_timeout=config.io_timeout,
        )


def pinned_known_hosts(host_key: str) -> tuple[list[asyncssh.SSHKey], list, list]:
    """asyncssh's known hosts holding the pinned key only (trusted keys, CA keys, revoked):
    whatever else the server offers is not verifiable and the handshake stops there."""
    try:
        key = asyncssh.import_public_key(host_key.strip())
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ContractError(f"the pinned host key is not an OpenSSH public key: {exc}") from exc
    return [key], [], []


def client_key(target: SftpTarget) -> asyncssh.SSHKey:
    try:
        if target.private_key:
            return asyncssh.import_private_key(target.private_key)
        if target.private_key_path is not None:
            return asyncssh.read_private_key(str(target.private_key_path))
    except (asyncssh.KeyImportError, OSError, ValueError) as exc:
        raise ContractError(f"the client key cannot be read: {exc}") from exc
    raise ContractError("no client key: give private_key_path or private_key")


def delivery(attrs: asyncssh.SFTPAttrs) -> str:
    """Which delivery of a file this is: size and modification time (``SftpSession.version``)."""
    return f"{attrs.size}@{attrs.mtime}"


class AsyncSftpSession:
    """One authenticated SFTP session; use through ``AsyncSftpClient.session()``."""

    def __init__(self, client: asyncssh.SFTPClient, system: str, io_timeout: float) -> None:
        self.client = client
        self.system = system
        self.io_timeout = io_timeout

    async def _ask(self, request: Awaitable[T], what: str) -> T:
        try:
            return await asyncio.wait_for(request, self.io_timeout)
        except TimeoutError as exc:
            raise TransientError(
                f"{what}: no answer in {self.io_timeout:g} s", system=self.system
            ) from exc

    async def listdir(self, folder: str) -> dict[str, asyncssh.SFTPAttrs]:
        """The files in ``folder`` with their attributes (one request), without any name that
        could escape it; a missing or unreadable folder is configuration (``ContractError``)."""
        try:  # names as bytes: one that is not UTF-8 must not fail the whole listing
            entries = await self._ask(self.client.readdir(folder.encode()), f"listing {folder}")
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPPermissionDenied) as exc:
            raise ContractError(f"cannot list {folder}: {exc}", system=self.system) from exc
        kept: dict[str, asyncssh.SFTPAttrs] = {}
        for entry in entries:
            raw = entry.filename
            name = decoded(raw) if isinstance(raw, bytes) else str(raw)
            if name in (".", ".."):
                continue
            if (problem := name_problem(name)) is not None:
                log.warning(
                    "%s: ignoring a name in %s: %s: %s", self.system, folder, problem, shown(name)
                )
            elif entry.attrs.permissions is not None and stat.S_ISREG(entry.attrs.permissions):
                kept[name] = entry.attrs
        return kept

    async def version(self, path: str) -> str | None:
        """Which delivery of ``path`` is there; None if absent."""
        try:
            attrs = await self._ask(self.client.stat(path), f"stat {path}")
        except asyncssh.SFTPNoSuchFile:
            return None
        return delivery(attrs)

    async def delivered(self, folder: str, pattern: str, *, require_ok: bool) -> dict[str, str]:
        """Files of ``folder`` whose whole name matches ``pattern``, name -> delivery; with
        ``require_ok`` only those whose ``<name>.ok`` is there too (the counterpart's "take
        it"). One listing, however many files."""
        listed = await self.listdir(folder)
        wanted = re.compile(pattern)
        return {
            name: delivery(attrs)
            for name, attrs in sorted(listed.items())
            if wanted.fullmatch(name) and (not require_ok or f"{name}.ok" in listed)
        }


class AsyncSftpClient:
    """Connects to one SFTP exchange with the pinned host key and the client key."""

    def __init__(self, target: SftpTarget, system: str = "sftp") -> None:
        self.target = target
        self.system = system
        self._known_hosts = pinned_known_hosts(target.host_key)  # a bad pin fails here, at once

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSftpSession]:
        connection = await self._connect()
        try:
            async with connection:
                try:
                    sftp = await asyncio.wait_for(
                        connection.start_sftp_client(), self.target.io_timeout
                    )
                except LOST as exc:
                    raise TransientError(f"SFTP not started: {exc}", system=self.system) from exc
                async with sftp:
                    yield AsyncSftpSession(sftp, self.system, self.target.io_timeout)
        except (asyncssh.SFTPConnectionLost, asyncssh.ConnectionLost) as exc:
            raise TransientError(f"connection lost: {exc}", system=self.system) from exc
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPPermissionDenied, PermissionError) as exc:
            raise ContractError(f"refused: {exc}", system=self.system) from exc
        except LOST as exc:  # any other refusal or failure of the server: never raw
            raise TransientError(f"SFTP failed: {exc}", system=self.system) from exc

    async def _connect(self) -> asyncssh.SSHClientConnection:
        t = self.target
        try:
            return await asyncio.wait_for(
                asyncssh.connect(
                    t.host,
                    t.port,
                    username=t.username,
                    known_hosts=self._known_hosts,
                    client_keys=[client_key(t)],
                    preferred_auth="publickey",
                    agent_path=None,
                    password=None,
                    config=None,
                ),
                t.connect_timeout,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise ContractError(
                f"host key is not the pinned one: refused before authentication ({exc})",
                system=self.system,
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise ContractError(f"authentication refused: {exc}", system=self.system) from exc
        except TimeoutError as exc:
            raise TransientError(
                f"cannot connect: no handshake in {t.connect_timeout:g} s", system=self.system
            ) from exc
        except LOST as exc:
            raise TransientError(f"cannot connect: {exc}", system=self.system) from exc
