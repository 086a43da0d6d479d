"""The loan origination system: connection type ``loanhub_los`` (host = LOS URL, the robot
user's login and password, extra ``approval_limit``: the most it may approve alone). The
checker, the second user of maker-checker, is a person and never a connection."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import ClassVar

from pydantic import SecretStr

from bots.config import LosLogin
from loanhub_provider.hooks.base import LoanhubHook
from loanhub_provider.hooks.web import login_page_loads


class LosHook(LoanhubHook):
    conn_type: ClassVar[str] = "loanhub_los"
    default_conn_name: ClassVar[str] = "loanhub_los"
    hook_name: ClassVar[str] = "Loanhub loan origination system"

    def get_config(self) -> LosLogin:
        conn = self.connection
        return LosLogin(
            url=self.url("host (the LOS URL)"),
            username=str(self.required(conn.login, "login")),
            password=SecretStr(self.secret(conn.password, f"{self.conn_id}.password") or ""),
        )

    @property
    def approval_limit(self) -> Decimal:
        raw = str(self.required(self.field("approval_limit"), "extra approval_limit"))
        try:
            return Decimal(raw)
        except InvalidOperation as exc:
            raise ValueError(f"connection {self.conn_id!r}: approval_limit {raw!r}") from exc

    def test_connection(self) -> tuple[bool, str]:
        """The login page loads (no login tried: the LOS locks a user after 5 failures)."""
        try:
            config = self.get_config()
            limit = self.approval_limit
        except ValueError as exc:
            return False, f"connection {self.conn_id!r} is incomplete: {exc}"
        ok, message = login_page_loads(config.url)
        return ok, f"{message}; {config.username!r} approves up to {limit}" if ok else message
