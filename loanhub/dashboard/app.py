"""The dashboard's web app: FastAPI, pages rendered on the server (Jinja2 + inline SVG).

Runs on its own (``loanhub dashboard``) or inside Airflow's API server as a plugin's
``fastapi_apps`` entry (``dags/support/plugin.py``); links are built from the mount point, so
both work unchanged. The routes live in ``loanhub.dashboard.pages``, one router per page, and
take what they share through the dependencies of ``loanhub.dashboard.deps``: every page needs a
login, and everything rendered passes through ``mask_text`` on its way into the HTML, charts
included (``loanhub.dashboard.rendering``), so no template can leak an ID.
"""

from __future__ import annotations

from fastapi import FastAPI

from loanhub.dashboard.deps import LoginRequired, to_login
from loanhub.dashboard.pages import ROUTERS
from loanhub.dashboard.rendering import environment
from loanhub.dashboard.state import Dashboard
from loanhub.runtime.settings import HubSettings


def create_app(
    settings: HubSettings | None = None, *, airflow_db_url: str | None = None
) -> FastAPI:
    """The dashboard app. Nothing is opened here (no DB, no file): the first request does."""
    settings = settings or HubSettings()
    board = Dashboard(settings, airflow_db_url or settings.airflow_db_url)
    app = FastAPI(title="loanhub dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = board
    app.state.templates = environment(board.zone)
    app.add_exception_handler(LoginRequired, to_login)
    for router in ROUTERS:
        app.include_router(router)
    return app


__all__ = ["create_app"]
