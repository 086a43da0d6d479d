"""The dashboard's web app: FastAPI, pages rendered on the server (Jinja2 + inline SVG).

Runs on its own (``loanhub dashboard``) or inside Airflow's API server as a plugin's
``fastapi_apps`` entry (``dags/support/plugin.py``); links are built from the mount point, so
both work unchanged. Who is signed in is the identity provider's answer
(``loanhub.dashboard.identity``): the standalone dashboard's own login by default, Airflow's
auth manager when the plugin builds the app. The routes live in ``loanhub.dashboard.pages``,
one router per page, and take what they share through the dependencies of
``loanhub.dashboard.deps``: every page needs a signed-in user, and everything rendered
passes through ``mask_text`` on its way into the HTML, charts included
(``loanhub.dashboard.rendering``), so no template can leak an ID. Each request is served in
its language (``loanhub.dashboard.i18n``: Simplified Chinese unless the person chose English),
error pages included (``loanhub.dashboard.errors``). Every answer carries the security headers
of ``loanhub.dashboard.headers`` (CSP with a nonce per answer, no framing, no caching). The
OpenAPI description is served at ``/openapi.json`` to signed-in users only; FastAPI's /docs and
/redoc are off, standalone and in Airflow alike.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from loanhub.dashboard import i18n
from loanhub.dashboard.deps import LoginRequired, Viewer, to_login
from loanhub.dashboard.errors import error_page
from loanhub.dashboard.headers import SecurityHeaders
from loanhub.dashboard.identity import IdentityProvider, LocalLogin
from loanhub.dashboard.pages import ROUTERS, login
from loanhub.dashboard.rendering import environment
from loanhub.dashboard.state import Dashboard
from loanhub.platform.files import owner_only_process
from loanhub.runtime.settings import HubSettings


class DashboardApp(FastAPI):
    """FastAPI with the security headers outside everything, Starlette's own error middleware
    included, so even an unexpected 500 carries them (``add_middleware`` would put them
    inside it)."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    settings: HubSettings | None = None,
    *,
    airflow_db_url: str | None = None,
    identity: IdentityProvider | None = None,
) -> FastAPI:
    """The dashboard app. Nothing is opened here (no DB, no file): the first request does.
    ``identity``: who signs people in; unset, the dashboard's own login (``LocalLogin``).
    The process serving it is made owner-only (umask 077, an existing data directory 0700):
    its session secret and users file, standalone or inside Airflow's API server."""
    settings = settings or HubSettings()
    owner_only_process(settings.data_dir)
    identity = identity or LocalLogin()
    board = Dashboard(settings, airflow_db_url or settings.airflow_db_url, identity)
    app = DashboardApp(title="loanhub dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = board
    app.state.templates = environment(board.zone)
    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(HTTPException, error_page)
    app.add_middleware(i18n.LanguageMiddleware, default=settings.dashboard.language)
    for router in ROUTERS:
        if router is not login.router or identity.local_login:
            app.include_router(router)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(who: Viewer) -> JSONResponse:
        """The routes and their parameters, for a signed-in person or tool (the property-based
        tests read it); anonymous requests are refused like any page. No /docs or /redoc:
        nothing here is meant to be tried from a browser form of FastAPI's."""
        return JSONResponse(app.openapi())

    return app


__all__ = ["create_app"]
