"""The loanhub Airflow plugin: the monitoring dashboard inside Airflow's API server, under
``/loanhub``, with an entry in Airflow's navigation.

Registered through the ``airflow.plugins`` entry point (pyproject.toml), so any Airflow that
has the project installed loads it: no plugins folder to copy. Building the app opens nothing;
the dashboard reads Airflow's metadata DB (runs) and the hub's store on its first request.
Airflow does not protect a plugin's endpoints: the dashboard has its own login.
"""

from __future__ import annotations

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from loanhub.dashboard.app import create_app
from loanhub.runtime.settings import HubSettings

URL_PREFIX = "/loanhub"


class LoanhubPlugin(AirflowPlugin):
    name = "loanhub"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads these class attributes)
        {
            "app": create_app(
                HubSettings(), airflow_db_url=conf.get("database", "sql_alchemy_conn")
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
