"""The bank's file-exchange SFTP server (asyncssh): key authentication, a fixed host key per
data directory, every session chrooted to one root holding the exchange folders.

Reads can be cut off mid-transfer (fault ``drop``), a write can be acknowledged and then lost
(fault ``short`` on ``sftp.write``: a full disk or quota on the bank's side that the server
does not report; the file ends shorter than what was sent), uploads and downloads are journaled with
their SHA-256, and the folders the other side owns (``/outbox``, ``/extracts``,
``/payments/out``) refuse removal and renaming, as the catalogue says the hub must not do it.

Crash points (``sftp.crash`` in the controls, see ``simulators/controls.py``): the connection
is dropped, or held and then dropped, right before or after one chosen operation on one chosen
path: ``open``, ``write`` (each write request), ``close`` (``after`` only: the file is
closed, its answer lost) and ``rename`` (the new name). An upload's crash points:

- before the upload: ``{"at": "open", "when": "before", "path": "/payments/in/.*.part"}``;
- after the ``.part`` (killed mid-write): ``{"at": "write", "when": "after", "path": ...part}``;
- after the rename, before the ``.ok``: ``{"at": "rename", "when": "after", "path":
  "/payments/in/*.xml"}``;
- the ``.ok`` written and its answer lost: ``{"at": "close", "when": "after", "path":
  "/payments/in/*.xml.ok"}``.

Each one that fires is journaled as ``("sftp", "crash")`` with its point and path before the
hold, so a test or the crash sweep knows when to SIGKILL the waiting client.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import asyncssh

from simulators.controls import Controls
from simulators.journal import Journal

FOLDERS = ("inbox", "outbox", "extracts", "payments/in", "payments/out")
READ_ONLY = ("/outbox", "/extracts", "/payments/out", "/payments/in/.processed")


def ensure_keys(keys_dir: Path) -> tuple[asyncssh.SSHKey, Path]:
    """The host key and the client key of this data directory, created once and then kept."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    host_path, client_path = keys_dir / "ssh_host_ed25519_key", keys_dir / "client_ed25519"
    for path in (host_path, client_path):
        if not path.exists():
            key = asyncssh.generate_private_key("ssh-ed25519")
            key.write_private_key(str(path))
            key.write_public_key(str(path) + ".pub")
            os.chmod(path, 0o600)
    return asyncssh.read_private_key(str(host_path)), client_path


def ensure_root(root: Path) -> None:
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)


class _ExchangeSFTP(asyncssh.SFTPServer):
    def __init__(
        self, chan: asyncssh.SSHServerChannel, root: Path, controls: Controls, journal: Journal
    ) -> None:
        super().__init__(chan, chroot=str(root).encode())
        self.root = root
        self.controls = controls
        self.journal = journal
        self.user = chan.get_extra_info("username")
        self._open: dict[int, dict[str, Any]] = {}

    def _virtual(self, path: bytes) -> str:
        real = Path(self.map_path(path).decode())
        return "/" + str(real.relative_to(self.root)) if real != self.root else "/"

    async def _crash_point(self, at: str, when: str, path: str) -> None:
        """Drop (or hold, then drop) the connection if the controls armed this point."""
        spec = self.controls.crash("sftp", at, when, path)
        if spec is None:
            return
        action = spec.get("action", "drop")
        self.journal.record("sftp", "crash", at=at, when=when, path=path, action=action)
        if action == "hold":
            await asyncio.sleep(float(spec.get("hold_seconds", 30)))
        self.channel.get_connection().abort()
        raise asyncssh.SFTPConnectionLost(f"connection dropped {when} {at} of {path}")

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        writing = bool(
            pflags
            & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC)
        )
        if writing:
            self._refuse_in_read_only(path)
        virtual = self._virtual(path)
        await self._crash_point("open", "before", virtual)
        file_obj = super().open(path, pflags, attrs)
        drop = not writing and self.controls.fault("sftp", "read") == "drop"
        self._open[id(file_obj)] = {
            "path": virtual,
            "writing": writing,
            "served": 0,
            "drop_after": int(self.controls.get("sftp", "read", "drop_after_bytes", 32768))
            if drop
            else None,
        }
        await self._crash_point("open", "after", virtual)
        return file_obj

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        path = self._open.get(id(file_obj), {}).get("path", "?")
        await self._crash_point("write", "before", path)
        if self.controls.fault("sftp", "write") == "short":
            self.journal.record("sftp", "write_lost", path=path, offset=offset, size=len(data))
            return len(data)  # acknowledged, never written
        written = super().write(file_obj, offset, data)
        f = file_obj  # flushed, so that what a crash leaves on disk is what was written
        f.flush()  # type: ignore[attr-defined]
        await self._crash_point("write", "after", path)
        return written

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        state = self._open[id(file_obj)]
        limit = state["drop_after"]
        if limit is not None and state["served"] + size > limit:
            self.journal.record("sftp", "dropped", path=state["path"], after_bytes=state["served"])
            self.channel.get_connection().abort()
            raise asyncssh.SFTPConnectionLost("connection dropped mid-transfer")
        f = file_obj  # the plain local file asyncssh opened
        f.seek(offset)  # type: ignore[attr-defined]
        data = f.read(size)  # type: ignore[attr-defined]
        state["served"] += len(data)
        return data

    async def close(self, file_obj: object) -> None:
        super().close(file_obj)
        state = self._open.pop(id(file_obj), None)
        if not state:
            return
        if state["writing"]:
            real = self.root / state["path"].lstrip("/")
            data = real.read_bytes() if real.is_file() else b""
            self.journal.record(
                "sftp",
                "upload",
                path=state["path"],
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                user=self.user,
            )
        else:
            self.journal.record(
                "sftp", "download", path=state["path"], bytes=state["served"], user=self.user
            )
        await self._crash_point("close", "after", state["path"])

    def _refuse_in_read_only(self, *paths: bytes) -> None:
        for path in paths:
            virtual = self._virtual(path)
            if any(virtual == f or virtual.startswith(f + "/") for f in READ_ONLY):
                raise asyncssh.SFTPPermissionDenied(f"{virtual}: files here belong to the sender")

    def remove(self, path: bytes) -> None:
        self._refuse_in_read_only(path)
        super().remove(path)

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse_in_read_only(oldpath, newpath)
        await self._crash_point("rename", "before", self._virtual(newpath))
        super().rename(oldpath, newpath)
        await self._crash_point("rename", "after", self._virtual(newpath))

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse_in_read_only(oldpath, newpath)
        await self._crash_point("rename", "before", self._virtual(newpath))
        super().posix_rename(oldpath, newpath)
        await self._crash_point("rename", "after", self._virtual(newpath))

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._refuse_in_read_only(path)
        super().setstat(path, attrs)

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._refuse_in_read_only(path)
        super().lsetstat(path, attrs)

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        state = self._open.get(id(file_obj), {})
        if any(state.get("path", "").startswith(f + "/") for f in READ_ONLY):
            raise asyncssh.SFTPPermissionDenied(f"{state['path']}: files here belong to the sender")
        super().fsetstat(file_obj, attrs)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._refuse_in_read_only(path)
        super().mkdir(path, attrs)

    def rmdir(self, path: bytes) -> None:
        self._refuse_in_read_only(path)
        super().rmdir(path)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed on this server")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed on this server")


class _KeyOnlyServer(asyncssh.SSHServer):
    def __init__(self, username: str, client_key: asyncssh.SSHKey, journal: Journal) -> None:
        self.username = username
        self.client_key = client_key
        self.journal = journal

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        ok = username == self.username and key.public_data == self.client_key.public_data
        if not ok:
            self.journal.record("sftp", "auth_failed", username=username)
        return ok


async def start_sftp(
    root: Path,
    keys_dir: Path,
    username: str,
    controls: Controls,
    journal: Journal,
    host: str = "127.0.0.1",
    port: int = 0,
) -> tuple[asyncssh.SSHAcceptor, dict[str, Any]]:
    """Listen on ``host:port`` (0: any free port); returns the acceptor and its endpoint facts."""
    ensure_root(root)
    host_key, client_path = ensure_keys(keys_dir)
    client_key = asyncssh.read_private_key(str(client_path))
    acceptor = await asyncssh.listen(
        host,
        port,
        server_host_keys=[host_key],
        server_factory=lambda: _KeyOnlyServer(username, client_key, journal),
        sftp_factory=lambda chan: _ExchangeSFTP(chan, root.resolve(), controls, journal),
        allow_scp=False,
    )
    bound = acceptor.sockets[0].getsockname()[1]
    known_hosts = keys_dir / "known_hosts"
    known_hosts.write_text(f"[{host}]:{bound} {host_key.export_public_key().decode().strip()}\n")
    return acceptor, {
        "host": host,
        "port": bound,
        "username": username,
        "private_key": str(client_path.resolve()),
        "host_key": host_key.export_public_key().decode().strip(),
        "host_key_fingerprint": host_key.get_fingerprint("sha256"),
        "known_hosts": str(known_hosts.resolve()),
        "root": str(root.resolve()),
    }
