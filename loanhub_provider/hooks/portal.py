"""The social-security portal: connection type ``loanhub_portal`` (host = portal URL, login,
password, extra ``totp_secret``, the bank's token seed: a secret)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from bots.config import PortalLogin
from loanhub_provider.hooks.base import LoanhubHook
from loanhub_provider.hooks.web import login_page_loads


class PortalHook(LoanhubHook):
    conn_type: ClassVar[str] = "loanhub_portal"
    default_conn_name: ClassVar[str] = "loanhub_ss_portal"
    hook_name: ClassVar[str] = "Loanhub social-security portal (TOTP)"

    def get_config(self) -> PortalLogin:
        conn = self.connection
        totp = self.required(self.field("totp_secret"), "extra totp_secret")
        return PortalLogin(
            url=self.url("host (the portal URL)"),
            username=str(self.required(conn.login, "login")),
            password=SecretStr(self.secret(conn.password, f"{self.conn_id}.password") or ""),
            totp_secret=SecretStr(str(self.secret(str(totp), f"{self.conn_id}.totp_secret"))),
        )

    def test_connection(self) -> tuple[bool, str]:
        """The login page loads (no login tried: the portal locks a user after 5 failures)."""
        try:
            config = self.get_config()
        except ValueError as exc:
            return False, f"connection {self.conn_id!r} is incomplete: {exc}"
        return login_page_loads(config.url)
