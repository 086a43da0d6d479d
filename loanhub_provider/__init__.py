"""The hub's Airflow provider: one connection type and one hook per legacy system.

Airflow finds it through the ``apache_airflow_provider`` entry point (pyproject.toml) and reads
``get_provider_info()`` as data: the form fields (``conn-fields``, JSON Schema) and the standard
fields' labels (``ui-field-behaviour``) are declared here, so the API server draws the "Add
connection" form without importing a hook. Nothing in this module imports Airflow.

With ``dags/``, this package is the only place that imports Airflow: the hooks build the
connectors' typed configs (``connectors.config``, ``bots.config``) from Airflow Connections at
run time and hand them down.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

HOOKS = "loanhub_provider.hooks"
# The URL types show the port too: Airflow 3.3.2's UI sends ``port: 0`` to "Test" for a hidden,
# unset port, which the API server refuses as "differs from the stored connection". The hooks
# check that a port given is the URL's own.
URL_PORT = "Port (the URL's)"


def _text(label: str, description: str, *, default: Any = None, secret: bool = False) -> dict:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if default is not None:
        schema["default"] = default
    if secret:
        schema["format"] = "password"  # Airflow 3.3: the field is sensitive (masked, not echoed)
    return {"label": label, "description": description, "schema": schema}


def _number(label: str, description: str, default: float) -> dict:
    return {
        "label": label,
        "description": description,
        "schema": {"type": ["number", "null"], "default": default, "exclusiveMinimum": 0},
    }


def _behaviour(relabeling: dict[str, str], placeholders: dict[str, str], hidden: list[str]) -> dict:
    return {"hidden-fields": hidden, "relabeling": relabeling, "placeholders": placeholders}


CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": "loanhub_soap",
        "hook-class-name": f"{HOOKS}.soap.SoapHook",
        "hook-name": "Loanhub SOAP service (WS-Security)",
        "conn-fields": {
            "wsdl": _text("WSDL URL", "where the service's WSDL is fetched (e.g. URL?wsdl)"),
            "operation_timeout": _number("Operation timeout (s)", "a whole call, seconds", 30.0),
        },
        "ui-field-behaviour": _behaviour(
            {
                "host": "Service URL",
                "port": URL_PORT,
                "login": "WS-Security user",
                "password": "WS-Security password",
            },
            {"host": "http://bureau.bank.local/bureau", "port": "80", "login": "loanhub"},
            ["schema", "extra"],
        ),
    },
    {
        "connection-type": "loanhub_sftp",
        "hook-class-name": f"{HOOKS}.sftp.SftpHook",
        "hook-name": "Loanhub SFTP exchange (pinned host key)",
        "conn-fields": {
            "host_key": _text(
                "Pinned host key",
                "the server's public key, one OpenSSH line (ssh-ed25519 AAAA...): any other key "
                "is refused before authentication",
            ),
            "private_key": _text(
                "Private key (PEM)", "the client's private key, OpenSSH/PEM text", secret=True
            ),
            "private_key_path": _text(
                "Private key file", "or: a path to the client's private key on the workers"
            ),
        },
        "ui-field-behaviour": _behaviour(
            {"login": "User"},
            {"host": "sftp.bank.local", "port": "22", "login": "loanhub"},
            ["schema", "password", "extra"],
        ),
    },
    {
        "connection-type": "loanhub_portal",
        "hook-class-name": f"{HOOKS}.portal.PortalHook",
        "hook-name": "Loanhub social-security portal (TOTP)",
        "conn-fields": {
            "totp_secret": _text(
                "TOTP secret", "the bank's token seed, base32 (RFC 6238)", secret=True
            ),
        },
        "ui-field-behaviour": _behaviour(
            {"host": "Portal URL", "port": URL_PORT, "login": "Institution user"},
            {"host": "https://ss.gov.example/ss/", "port": "443"},
            ["schema", "extra"],
        ),
    },
    {
        "connection-type": "loanhub_los",
        "hook-class-name": f"{HOOKS}.los.LosHook",
        "hook-name": "Loanhub loan origination system",
        "conn-fields": {
            "approval_limit": _text(
                "Approval limit",
                "the largest amount this user may approve alone (decimal, e.g. 500000.00)",
                default="500000.00",
            ),
        },
        "ui-field-behaviour": _behaviour(
            {"host": "LOS URL", "port": URL_PORT, "login": "Robot user"},
            {"host": "https://los.bank.local/los/", "port": "443"},
            ["schema", "extra"],
        ),
    },
]


def get_provider_info() -> dict[str, Any]:
    """What ``airflow providers list`` and the connection form read (as data, no import).

    SMTP uses Airflow's own ``smtp`` connection type (the SMTP provider declares it); its hook
    here only turns that connection into the hub's ``SmtpConfig``."""
    return {
        "package-name": "loanhub",
        "name": "Loanhub legacy systems",
        "description": "Connections and hooks for the loanhub hub's legacy systems: SOAP "
        "(bureau, core), the SFTP exchange, the social-security portal, the LOS and SMTP.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "Loanhub",
                "python-modules": [
                    f"{HOOKS}.{m}"
                    for m in ("soap", "bureau", "core", "sftp", "portal", "los", "smtp")
                ],
            }
        ],
        "connection-types": CONNECTION_TYPES,
        "notifications": ["loanhub_provider.notifications.mail.LoanhubMailNotifier"],
    }
