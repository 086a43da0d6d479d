"""The simulators' Airflow Connections, written beside ``endpoints.json`` at start-up.

The hub reads its credentials from Airflow only (a connection per legacy system, resolved
through the secrets backends at run time), so the simulators hand theirs over in the two forms
Airflow reads without code of ours: ``connections.json`` for ``airflow connections import`` or
the ``LocalFilesystemBackend``, and ``airflow.env`` with one ``AIRFLOW_CONN_<ID>='<json>'``
line per connection. The LOS's checker (its second user, a person) is no connection of the
hub's: it stays in the endpoints file, for the development tools that play that person.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONNECTIONS = "connections.json"
AIRFLOW_ENV = "airflow.env"
SENDER = "loanhub@bank.local"


def url_port(url: str) -> int | None:
    """The URL's port, stored as the connection's port: Airflow's UI sends the port field to
    "Test", and a stored port that is not the one sent is refused before any hook runs."""
    return urlsplit(url).port


def connections(endpoints: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The connection documents (conn id -> fields), from the endpoints the server wrote."""

    def soap(system: str) -> dict[str, Any]:
        end = endpoints[system]
        return {
            "conn_type": "loanhub_soap",
            "host": end["url"],
            "port": url_port(end["url"]),
            "login": end["username"],
            "password": end["password"],
            "extra": {"wsdl": end["wsdl"], "operation_timeout": 30},
        }

    sftp, smtp = endpoints["sftp"], endpoints["smtp"]
    portal, los = endpoints["ss_portal"], endpoints["los"]
    return {
        "loanhub_bureau": soap("bureau"),
        "loanhub_core": soap("core"),
        "loanhub_sftp": {
            "conn_type": "loanhub_sftp",
            "host": sftp["host"],
            "port": sftp["port"],
            "login": sftp["username"],
            "extra": {"private_key_path": sftp["private_key"], "host_key": sftp["host_key"]},
        },
        "loanhub_ss_portal": {
            "conn_type": "loanhub_portal",
            "host": portal["url"],
            "port": url_port(portal["url"]),
            "login": portal["username"],
            "password": portal["password"],
            "extra": {"totp_secret": portal["totp_secret"]},
        },
        "loanhub_los": {  # the robot only: the checker is a person, not the hub
            "conn_type": "loanhub_los",
            "host": los["url"],
            "port": url_port(los["url"]),
            "login": los["username"],
            "password": los["password"],
            "extra": {"approval_limit": f"{Decimal(los['limit']):.2f}"},
        },
        "loanhub_smtp": {
            "conn_type": "smtp",
            "host": smtp["host"],
            "port": smtp["port"],
            "extra": {"from_email": SENDER, "disable_ssl": True, "disable_tls": True},
        },
    }


def env_lines(documents: dict[str, dict[str, Any]]) -> str:
    """``AIRFLOW_CONN_<ID>='<json>'`` lines, single-quoted as a shell reads them (``set -a; .
    airflow.env``); a quote inside is closed, escaped and reopened."""
    lines = []
    for conn_id, document in documents.items():
        value = json.dumps(document, separators=(",", ":")).replace("'", "'\\''")
        lines.append(f"AIRFLOW_CONN_{conn_id.upper()}='{value}'")
    return "\n".join(lines) + "\n"


def write(data_dir: Path, endpoints: dict[str, Any]) -> None:
    """Both files, owner-only (they hold the credentials), each replaced whole."""
    documents = connections(endpoints)
    for name, text in (
        (CONNECTIONS, json.dumps(documents, indent=2, ensure_ascii=False)),
        (AIRFLOW_ENV, env_lines(documents)),
    ):
        temp = data_dir / f".{name}.tmp"
        temp.touch(mode=0o600)
        temp.chmod(0o600)
        temp.write_text(text, encoding="utf-8")
        temp.replace(data_dir / name)


def remove(data_dir: Path) -> None:
    for name in (CONNECTIONS, AIRFLOW_ENV):
        (data_dir / name).unlink(missing_ok=True)
