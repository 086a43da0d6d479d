"""The loanhub Airflow plugin: the monitoring dashboard inside Airflow's API server, under
``/loanhub``, with an entry in Airflow's navigation.

Registered through the ``airflow.plugins`` entry point (pyproject.toml), so any Airflow that
has the project installed loads it: no plugins folder to copy. Building the app opens nothing;
the dashboard reads Airflow's metadata DB (runs) and the hub's store on its first request.

Airflow does not protect a plugin's endpoints, and the dashboard has no users of its own here:
``AirflowIdentity`` makes Airflow's auth manager the one who signs people in (the user of the
bearer token or of the UI's ``_token`` cookie, through
``airflow.api_fastapi.core_api.security.get_user``). The permission mapping:
- viewer: the auth manager grants the user the PLUGINS view (``is_authorized_view``), which
  every Airflow role has (SimpleAuthManager: viewer and up; FAB: Viewer and up);
- operator: the user may also edit DAG runs (``is_authorized_dag("PUT", DagAccessEntity.RUN)``),
  as they may to clear or mark a run in Airflow's own UI (SimpleAuthManager: user, op, admin;
  FAB: User, Op, Admin).
"""

from __future__ import annotations

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from dags.support.connections import use_airflow_connections
from loanhub.dashboard.app import create_app
from loanhub.dashboard.auth import Role, User
from loanhub.dashboard.identity import SignedIn, csrf_for
from loanhub.runtime.settings import HubSettings

URL_PREFIX = "/loanhub"


class AirflowIdentity:
    """The dashboard's identity provider inside Airflow: Airflow's user and permissions.
    (The API server's modules are imported on the first request, not with the plugin, which
    every Airflow process loads.)"""

    local_login = False

    async def signed_in(self, request: Request) -> SignedIn | None:
        # an operator's reading of a legacy system from the dashboard reaches it through the
        # loanhub_* Connections, as every task does (installed on the first request, in the
        # API server only: the other processes that load plugins read nothing through it)
        use_airflow_connections()
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
        from airflow.api_fastapi.auth.managers.models.resource_details import (
            AccessView,
            DagAccessEntity,
        )
        from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

        bearer = await bearer_scheme(request)
        try:
            user = await get_user(request, None, bearer)
        except HTTPException as exc:
            if exc.status_code in (401, 403):  # no token, an expired or a forged one
                return None
            raise
        manager = get_auth_manager()
        if not manager.is_authorized_view(access_view=AccessView.PLUGINS, user=user):
            raise HTTPException(403, "your Airflow role may not see plugins' views")
        edits_runs = manager.is_authorized_dag(
            method="PUT", access_entity=DagAccessEntity.RUN, user=user
        )
        role = Role.OPERATOR if edits_runs else Role.VIEWER
        credential = (
            bearer.credentials if bearer else request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")
        )
        board = request.app.state.dashboard
        name = user.get_name()
        return SignedIn(User(name, role), f"airflow:{name}", csrf_for(board, credential))

    def refuse(self, request: Request) -> Response:
        """A browser to Airflow's login page (and back after it); anything else 401."""
        if "text/html" in request.headers.get("accept", ""):
            from airflow.api_fastapi.app import get_auth_manager

            login = get_auth_manager().get_url_login(next_url=str(request.url))
            return RedirectResponse(login, 303)
        return JSONResponse({"detail": "Not authenticated"}, 401, {"WWW-Authenticate": "Bearer"})


class LoanhubPlugin(AirflowPlugin):
    name = "loanhub"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads these class attributes)
        {
            "app": create_app(
                HubSettings(),
                airflow_db_url=conf.get("database", "sql_alchemy_conn"),
                identity=AirflowIdentity(),
            ),
            "url_prefix": URL_PREFIX,
            "name": "loanhub dashboard",
        }
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Loan hub monitoring",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
        }
    ]
