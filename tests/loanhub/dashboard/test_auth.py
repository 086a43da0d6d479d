from __future__ import annotations

import stat
from pathlib import Path

from loanhub.dashboard.auth import Role, UserBook, session_secret
from loanhub.runtime.settings import HubSettings


def test_passwords_are_kept_hashed_and_checked(tmp_path: Path):
    book = UserBook(tmp_path / "users.json")
    book.put("otto", Role.OPERATOR, "s3cret")
    kept = (tmp_path / "users.json").read_text()
    assert "s3cret" not in kept
    assert "scrypt$" in kept
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    assert book.check("otto", "s3cret").role is Role.OPERATOR
    assert book.check("otto", "wrong") is None
    assert book.check("nobody", "s3cret") is None


def test_roles_change_and_users_go(tmp_path: Path):
    book = UserBook(tmp_path / "users.json")
    book.put("vera", Role.VIEWER, "pw")
    assert not Role.VIEWER.allows(Role.OPERATOR)
    book.put("vera", Role.OPERATOR, "pw2")
    assert book.names() == {"vera": Role.OPERATOR}
    assert book.check("vera", "pw") is None
    assert book.remove("vera")
    assert not book.remove("vera")
    assert book.check("vera", "pw2") is None


def test_the_session_secret_is_made_once_and_kept_private(tmp_path: Path):
    settings = HubSettings(data_dir=tmp_path)
    first = session_secret(settings)
    assert session_secret(settings) == first
    assert len(first) >= 32
    assert stat.S_IMODE((tmp_path / ".dashboard-secret").stat().st_mode) == 0o600
    assert session_secret(HubSettings(data_dir=tmp_path, dashboard={"secret": "given"})) == "given"
