"""What every route shares, kept on ``app.state``: the settings, the engines (made on first use,
not at import, so building the app opens nothing), who signs people in (the identity provider
of ``loanhub.dashboard.identity``), the users file and the login guard of the standalone
login, and the signed cookie."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine

from loanhub.dashboard import figures
from loanhub.dashboard.auth import SESSION_SECONDS, LoginGuard, UserBook, session_secret
from loanhub.platform.db import open_store
from loanhub.runtime.settings import HubSettings

if TYPE_CHECKING:
    from loanhub.dashboard.identity import IdentityProvider

COOKIE = "loanhub_session"


def base_path(request: Request) -> str:
    """Where the dashboard is mounted ("" on its own, "/loanhub" inside Airflow): every link
    and the cookie's path are built from it."""
    return request.scope.get("root_path", "").rstrip("/")


def local_target(request: Request, wanted: str) -> str:
    """``wanted`` only when it is a page of this dashboard, "" otherwise (no open redirect:
    a login's or a language switch's ``next``)."""
    base = base_path(request)
    if wanted.startswith(f"{base}/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return ""


def here(request: Request) -> str:
    """The page asked for, path and query, as a ``next`` that comes back to it."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class Dashboard:
    """The app's state: one per app, shared by every request."""

    def __init__(
        self, settings: HubSettings, airflow_db_url: str | None, identity: IdentityProvider
    ) -> None:
        self.settings = settings
        self.airflow_db_url = airflow_db_url
        self.identity = identity
        self.users = UserBook(settings.dashboard_users_path)
        login = settings.dashboard
        self.guard = LoginGuard(
            settings.dashboard_users_path.with_name("dashboard-logins.json"),
            user_limit=login.lockout_user_failures,
            address_limit=login.lockout_address_failures,
            minutes=login.lockout_minutes,
        )
        self.zone = ZoneInfo(settings.timezone)

    @cached_property
    def engine(self) -> Engine:
        return open_store(self.settings.store_url)

    @cached_property
    def airflow(self) -> Engine | None:
        return figures.airflow_engine(self.airflow_db_url) if self.airflow_db_url else None

    @cached_property
    def signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(session_secret(self.settings), salt="loanhub-dashboard")

    def session(self, request: Request) -> dict[str, str]:
        """The signed cookie's content; empty when absent, forged or older than a workday."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return {}
        try:
            return self.signer.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            return {}

    def set_session(self, response: Response, request: Request, data: dict[str, str]) -> None:
        """Sign ``data`` into the cookie: script-proof, same-site only, scoped to the mount."""
        response.set_cookie(
            COOKIE,
            self.signer.dumps(data),
            max_age=SESSION_SECONDS,
            path=base_path(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def end_session(self, response: Response, request: Request) -> None:
        response.delete_cookie(COOKIE, path=base_path(request) or "/")
