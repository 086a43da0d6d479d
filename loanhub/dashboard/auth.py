"""The standalone dashboard's own users (``loanhub dashboard``, which must work while Airflow
is down); inside Airflow the dashboard trusts Airflow's auth manager instead
(``loanhub.dashboard.identity``) and none of this is used.

Two roles: ``viewer`` sees every page (masked); ``operator`` may also open evidence and
acknowledge warnings. Passwords are kept as scrypt hashes in a JSON file owner-only and must
pass ``password_problem``; each login opens a server-side session kept beside the hash, so a
logout ends it and a password change ends them all. ``LoginGuard`` locks a user, and an
address, out after repeated failures. The session cookie is signed with a secret from the
settings or, unset, one made on first use beside the store.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from loanhub.platform import audit
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


MIN_PASSWORD_LENGTH = 12
SESSION_SECONDS = 8 * 3600


def password_problem(name: str, password: str) -> str | None:
    """Why ``password`` will not do for ``name`` (None: it will): at least 12 characters, of
    three kinds of lower case, upper case, digits and others, and not the user's name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    kinds = [str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum()]
    if sum(any(kind(c) for c in password) for kind in kinds) < 3:
        return "a password needs three of: lower case, upper case, digits, other characters"
    if name and name.casefold() in password.casefold():
        return "a password must not contain the user's name"
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time for a JSON file of this module (several processes may serve)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.chmod(temp, 0o600)
    temp.replace(path)


class UserBook:
    """The users file: ``{"name": {"role": "viewer", "password": "scrypt$…",
    "sessions": {"<id>": <expiry epoch>}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, Any]]:
        return _read_json(self.path)

    def _update(self, change: Callable[[dict[str, dict[str, Any]]], Any]) -> Any:
        with _locked(self.path):
            users = self._read()
            result = change(users)
            _write_json(self.path, users)
            return result

    def put(self, name: str, role: Role, password: str) -> bool:
        """Add the user, or change their role and password; a new password ends every open
        session of the user (a role change applies to them at their next request). True if
        the user is new. ``ValueError`` for a weak password."""
        if not name or not password:
            raise ValueError("a user needs a name and a password")
        problem = password_problem(name, password)
        if problem:
            raise ValueError(problem)

        def change(users: dict[str, dict[str, Any]]) -> bool:
            before = users.get(name)
            same = before is not None and password_matches(password, before["password"])
            sessions = before.get("sessions", {}) if same and before else {}
            users[name] = {
                "role": role.value,
                "password": before["password"] if same and before else hash_password(password),
                "sessions": sessions,  # a new password ends every session; a role change none
            }
            return before is None

        return self._update(change)

    def remove(self, name: str) -> bool:
        return self._update(lambda users: users.pop(name, None) is not None)

    def names(self) -> dict[str, Role]:
        return {name: Role(u["role"]) for name, u in sorted(self._read().items())}

    def check(self, name: str, password: str) -> User | None:
        """The user if the password is theirs; None otherwise (same cost either way)."""
        entry = self._read().get(name)
        ok = password_matches(password, entry["password"] if entry else _DECOY)
        return User(name, Role(entry["role"])) if ok and entry else None

    def open_session(self, name: str) -> str:
        """A new session of ``name`` (expired ones are dropped on the way); its id."""
        sid = secrets.token_urlsafe(24)
        now = time.time()

        def change(users: dict[str, dict[str, Any]]) -> None:
            kept = {s: t for s, t in users[name].get("sessions", {}).items() if t > now}
            users[name]["sessions"] = kept | {sid: now + SESSION_SECONDS}

        self._update(change)
        return sid

    def session_user(self, name: str, sid: str) -> User | None:
        """The user of an open session, with their role as it is now; None when the session
        was ended (logout, new password), has expired or its user is gone."""
        entry = self._read().get(name)
        if not entry or entry.get("sessions", {}).get(sid, 0) <= time.time():
            return None
        return User(name, Role(entry["role"]))

    def close_session(self, name: str, sid: str) -> None:
        def change(users: dict[str, dict[str, Any]]) -> None:
            if name in users:
                users[name].get("sessions", {}).pop(sid, None)

        self._update(change)


class LoginGuard:
    """Failed logins counted per user and per address over a window; ``limit`` failures in
    it lock the user (or the address) out for the window's length, and while locked no
    password is even checked. Kept in a file beside the users file so every process serving
    the dashboard, and a restart, see the same counts.

    An attempt is counted before its password is checked (``admit``, under the file's lock),
    as a failure until it turns out right (``succeeded`` takes it back): 40 guesses sent at
    once are admitted only up to the limit, never all checked because none had failed yet.
    """

    def __init__(self, path: Path, *, user_limit: int, address_limit: int, minutes: int) -> None:
        self.path = path
        self.limits = {"user": user_limit, "address": address_limit}
        self.seconds = minutes * 60

    def _limit(self, key: str) -> int:
        return self.limits[key.split(":", 1)[0]]

    def locked(self, keys: list[str]) -> str | None:
        """The first of ``keys`` (``user:NAME``, ``address:IP``) that is locked out now."""
        until = _read_json(self.path).get("locked", {})
        now = time.time()
        return next((k for k in keys if until.get(k, 0) > now), None)

    def admit(self, keys: list[str]) -> tuple[str | None, float]:
        """Whether an attempt may check a password: the first key locked out, or at its limit
        with attempts still being checked, refuses it (None: admitted, and counted). The
        attempt's time, to hand back to ``failed`` or ``succeeded``."""
        now = time.time()
        with _locked(self.path):
            state = _read_json(self.path)
            failures, until = state.setdefault("failures", {}), state.setdefault("locked", {})
            recent = {k: [t for t in failures.get(k, []) if t > now - self.seconds] for k in keys}
            for key in keys:
                if until.get(key, 0) > now or len(recent[key]) >= self._limit(key):
                    return key, now
            for key in keys:
                failures[key] = [*recent[key], now]
            _write_json(self.path, state)
        return None, now

    def failed(self, keys: list[str], at: float | None = None) -> list[str]:
        """Count a failure against each key (already counted when ``at``, the time ``admit``
        gave); the keys this failure locked out."""
        now = time.time()
        with _locked(self.path):
            state = _read_json(self.path)
            failures, until = state.setdefault("failures", {}), state.setdefault("locked", {})
            newly = []
            for key in keys:
                recent = [t for t in failures.get(key, []) if t > now - self.seconds]
                if at is None or at not in recent:
                    recent.append(now)
                failures[key] = recent
                if len(recent) >= self._limit(key) and until.get(key, 0) <= now:
                    until[key] = now + self.seconds
                    newly.append(key)
            _write_json(self.path, state)
        return newly

    def succeeded(
        self, user_key: str, address_key: str | None = None, at: float | None = None
    ) -> None:
        """A good login forgets the user's failures; the address keeps its count, less this
        attempt (counted by ``admit`` at ``at``)."""
        with _locked(self.path):
            state = _read_json(self.path)
            failures = state.setdefault("failures", {})
            failures.pop(user_key, None)
            if address_key is not None and at in failures.get(address_key, []):
                failures[address_key].remove(at)
            _write_json(self.path, state)


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


def audited(
    engine: Engine, *, actor: str, action: str, subject: str, after: dict[str, Any] | None = None
) -> None:
    """One audit event of the login or the users file, in a transaction of its own (the
    change it records is in the users file, not in the store)."""
    with engine.begin() as conn:
        audit.append(conn, actor=actor, action=action, subject=subject, after=after)
