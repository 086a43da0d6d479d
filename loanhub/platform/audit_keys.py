"""The audit chain's secret and where its heads are anchored: both outside the store.

A hash chain alone only shows careless tampering: whoever can write the table can recompute
every hash after an edit. So each event also carries an HMAC-SHA256 under a key the store
never holds (``LOANHUB_AUDIT__KEY``, or a key file made on first use), and the chain's head
is written now and then to an anchor directory the store's role cannot reach (each anchor a
new, read-only file, keyed too). A database user, however privileged, can then rewrite
events but not their MACs, and cannot shorten the chain below an anchor unnoticed.

A process's keyring comes from the environment (``LOANHUB_DATA_DIR``, ``LOANHUB_AUDIT__*``,
read exactly as ``HubSettings`` reads them), unless one is installed (``use_audit_keyring``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")
"""The hub's data directory when ``LOANHUB_DATA_DIR`` is unset (``HubSettings.data_dir``)."""
KEY_FILE_NAME = "audit.key"
ANCHOR_DIR_NAME = "audit-anchors"
MIN_KEY_CHARS = 32


class AuditKeyError(RuntimeError):
    """The audit key cannot be had: unset and its file unreadable, or too short."""


class AuditSettings(BaseModel):
    """The audit chain's key and anchors (``LOANHUB_AUDIT__*``)."""

    key: SecretStr | None = Field(
        default=None,
        description="the HMAC key of the audit chain (at least 32 characters), from a secret "
        "store; unset: a random key kept in key_file, made on first use",
    )
    key_file: Path | None = Field(
        default=None, description="where the made key is kept (0600); unset: data_dir/audit.key"
    )
    anchor_dir: Path | None = Field(
        default=None,
        description="write-once directory of the chain's anchors (0700, each file 0400); "
        "unset: data_dir/audit-anchors. Production: a mount the database host cannot write",
    )

    def keyring(self, data_dir: Path) -> AuditKeyring:
        """This deployment's keyring: the configured key, or the key file's (made if absent)."""
        anchors = self.anchor_dir or data_dir / ANCHOR_DIR_NAME
        if self.key is not None:
            secret = self.key.get_secret_value()
            if len(secret) < MIN_KEY_CHARS:
                raise AuditKeyError(
                    f"LOANHUB_AUDIT__KEY is too short: at least {MIN_KEY_CHARS} characters"
                )
            return AuditKeyring(secret.encode("utf-8"), anchors)
        return AuditKeyring(load_or_make_key(self.key_file or data_dir / KEY_FILE_NAME), anchors)


@dataclass(frozen=True)
class AuditKeyring:
    """The key that MACs events and anchors, and the directory the anchors go to."""

    key: bytes
    anchor_dir: Path

    def __repr__(self) -> str:  # the key never reaches a log line or a traceback's locals
        return f"AuditKeyring(key=<{len(self.key)} bytes>, anchor_dir={self.anchor_dir!s})"

    def mac(self, purpose: str, message: bytes) -> str:
        """HMAC-SHA256 of ``message``, bound to what it authenticates (``purpose``), so an
        anchor's MAC can never pass for an event's."""
        body = b"loanhub-audit/" + purpose.encode("ascii") + b"\n" + message
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def event_mac(self, event_hash: str) -> str:
        """An event's MAC: over its hash, which covers every field and its predecessor's hash."""
        return self.mac("event/v1", event_hash.encode("ascii"))


def load_or_make_key(path: Path) -> bytes:
    """The key kept in ``path``; on first use a new random one, made atomically (written to
    a private temporary file, then hard-linked into place: two processes starting together
    end up with the same key, never one each)."""
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise AuditKeyError(f"the audit key file {path} is not a regular file")
    if mode & 0o077:
        path.chmod(0o600)  # an old install's or a careless copy's mode: owner only
    try:
        secret = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"cannot read the audit key file {path}: {exc}") from None
    if len(secret) < MIN_KEY_CHARS:
        raise AuditKeyError(f"the audit key file {path} holds no key (under {MIN_KEY_CHARS} chars)")
    return secret.encode("utf-8")


class AuditEnvironment(BaseSettings):
    """The two settings the keyring depends on, read as ``HubSettings`` reads them (the same
    names, the same ``AuditSettings``): every process that appends, the hub's own or one
    that never built a ``HubSettings`` (a worker spawned by a test, a script), must MAC with
    the same key, or the chain it writes does not verify anywhere else."""

    model_config = SettingsConfigDict(
        env_prefix="LOANHUB_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = DEFAULT_DATA_DIR
    audit: AuditSettings = AuditSettings()


_ENVIRONMENT = (
    "LOANHUB_DATA_DIR",
    "LOANHUB_AUDIT",
    "LOANHUB_AUDIT__KEY",
    "LOANHUB_AUDIT__KEY_FILE",
    "LOANHUB_AUDIT__ANCHOR_DIR",
)


@cache
def _keyring_for(_values: tuple[str | None, ...]) -> AuditKeyring:
    found = AuditEnvironment()
    return found.audit.keyring(found.data_dir)


KeyringSource = Callable[[], AuditKeyring]
_installed: list[KeyringSource] = []


def use_audit_keyring(source: KeyringSource | AuditKeyring | None) -> None:
    """Install (or, with None, remove) this process's keyring, or a callable that makes it:
    a hub built from explicit settings (``Hub.here``), a test's own key."""
    if isinstance(source, AuditKeyring):
        ring = source
        source = lambda: ring  # noqa: E731 - a constant source
    _installed[:] = [source] if source is not None else []


def keyring() -> AuditKeyring:
    """This process's keyring: the installed one, else the environment's (resolved once per
    value of the variables it depends on: a key file is read once, not at every append)."""
    for source in _installed:
        return source()
    return _keyring_for(tuple(os.environ.get(name) for name in _ENVIRONMENT))
