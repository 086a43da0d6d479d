from __future__ import annotations

import stat
from pathlib import Path

from loanhub.dashboard.auth import Role, UserBook, session_secret
from loanhub.runtime.settings import HubSettings


def test_passwords_are_kept_hashed_and_checked(tmp_path: Path):
    book = UserBook(tmp_path / "users.json")
    book.put("otto", Role.OPERATOR, "S3cret-pass-word")
    kept = (tmp_path / "users.json").read_text()
    assert "S3cret-pass-word" not in kept
    assert "scrypt$" in kept
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    assert book.check("otto", "S3cret-pass-word").role is Role.OPERATOR
    assert book.check("otto", "wrong") is None
    assert book.check("nobody", "S3cret-pass-word") is None


def test_roles_change_and_users_go(tmp_path: Path):
    book = UserBook(tmp_path / "users.json")
    book.put("vera", Role.VIEWER, "First-pass-1x")
    assert not Role.VIEWER.allows(Role.OPERATOR)
    book.put("vera", Role.OPERATOR, "Second-pass-2")
    assert book.names() == {"vera": Role.OPERATOR}
    assert book.check("vera", "First-pass-1x") is None
    assert book.remove("vera")
    assert not book.remove("vera")
    assert book.check("vera", "Second-pass-2") is None


def test_the_session_secret_is_made_once_and_kept_private(tmp_path: Path):
    settings = HubSettings(data_dir=tmp_path)
    first = session_secret(settings)
    assert session_secret(settings) == first
    assert len(first) >= 32
    assert stat.S_IMODE((tmp_path / ".dashboard-secret").stat().st_mode) == 0o600
    assert session_secret(HubSettings(data_dir=tmp_path, dashboard={"secret": "given"})) == "given"
