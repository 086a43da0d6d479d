"""Who may look at the dashboard: its own users and roles, because Airflow does not protect
the endpoints of a plugin's FastAPI app.

Two roles: ``viewer`` sees every page (masked); ``operator`` may also open evidence and
acknowledge warnings. Passwords are kept as scrypt hashes in a JSON file owner-only; the
session cookie is signed with a secret from the settings or, unset, one made on first use
beside the store.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from loanhub.runtime.settings import HubSettings

SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"

    def allows(self, needed: Role) -> bool:
        return needed is Role.VIEWER or self is Role.OPERATOR


@dataclass(frozen=True)
class User:
    name: str
    role: Role


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets that also takes text a client typed or sent in
    any script (``secrets.compare_digest`` raises on non-ASCII ``str``: a 500, not a 403)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def password_matches(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    again = hash_password(password, base64.b64decode(salt)).split("$")[2]
    return hmac.compare_digest(again, digest)


# A hash to compare against when the user is unknown, so a wrong name costs as long as a
# wrong password (no user enumeration by timing).
_DECOY = hash_password(secrets.token_urlsafe(16))


class UserBook:
    """The users file: ``{"name": {"role": "viewer", "password": "scrypt$…"}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def put(self, name: str, role: Role, password: str) -> None:
        """Add the user, or change their role and password."""
        if not name or not password:
            raise ValueError("a user needs a name and a password")
        users = self._read()
        users[name] = {"role": role.value, "password": hash_password(password)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(users, indent=1, sort_keys=True), encoding="utf-8")
        os.chmod(temp, 0o600)
        temp.replace(self.path)

    def remove(self, name: str) -> bool:
        users = self._read()
        if users.pop(name, None) is None:
            return False
        self.path.write_text(json.dumps(users, indent=1, sort_keys=True), encoding="utf-8")
        return True

    def names(self) -> dict[str, Role]:
        return {name: Role(u["role"]) for name, u in sorted(self._read().items())}

    def check(self, name: str, password: str) -> User | None:
        """The user if the password is theirs; None otherwise (same cost either way)."""
        entry = self._read().get(name)
        ok = password_matches(password, entry["password"] if entry else _DECOY)
        return User(name, Role(entry["role"])) if ok and entry else None


def session_secret(settings: HubSettings) -> str:
    """The configured secret, or one made once and kept owner-only under ``data_dir`` (every
    process on the machine then signs and checks cookies with the same one)."""
    if settings.dashboard.secret is not None:
        return settings.dashboard.secret.get_secret_value()
    path = settings.data_dir / ".dashboard-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".dashboard-secret.{os.getpid()}.tmp")
        temp.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        os.chmod(temp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)  # the first writer wins
        temp.unlink()
    return path.read_text(encoding="utf-8").strip()
