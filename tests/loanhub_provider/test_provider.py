"""The provider as Airflow sees it: its info as data, the entry point, the CLI's listings and
the connection form Airflow draws from ``conn-fields`` / ``ui-field-behaviour``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loanhub_provider import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = ROOT / ".venv" / "bin" / "airflow"
TYPES = {"loanhub_soap", "loanhub_sftp", "loanhub_portal", "loanhub_los"}
SECRETS = {("loanhub_sftp", "private_key"), ("loanhub_portal", "totp_secret")}


def test_provider_info_names_every_connection_type_with_its_hook_and_fields() -> None:
    info = get_provider_info()
    assert info["package-name"] == "loanhub"  # must equal the distribution's name
    assert info["versions"]
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == TYPES  # SMTP is Airflow's own ``smtp`` type, not declared twice
    for conn_type, c in types.items():
        module, _, name = c["hook-class-name"].rpartition(".")
        hook = getattr(__import__(module, fromlist=[name]), name)
        assert hook.conn_type == conn_type
        assert c["conn-fields"], conn_type
        assert set(c["ui-field-behaviour"]) == {"hidden-fields", "relabeling", "placeholders"}
    secret = {
        (t, f)
        for t, c in types.items()
        for f, d in c["conn-fields"].items()
        if d["schema"].get("format") == "password"
    }
    assert secret == SECRETS


def test_airflow_reads_the_form_from_the_provider_info_without_the_hooks() -> None:
    """What the API server sends the UI: the extra fields (secrets sensitive) and the labels."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    assert widgets["extra__loanhub_sftp__host_key"].field["schema"]["title"] == "Pinned host key"
    assert widgets["extra__loanhub_portal__totp_secret"].is_sensitive
    assert widgets["extra__loanhub_sftp__private_key"].is_sensitive
    assert not widgets["extra__loanhub_los__approval_limit"].is_sensitive
    behaviours = manager.field_behaviours
    assert behaviours["loanhub_soap"]["relabeling"]["host"] == "Service URL"
    assert "password" in behaviours["loanhub_sftp"]["hidden_fields"]
    for url_type in ("loanhub_soap", "loanhub_portal", "loanhub_los"):
        # shown: the UI sends the form's port to "Test" (0 for a hidden, unset one: refused)
        assert "port" not in behaviours[url_type]["hidden_fields"], url_type
        assert behaviours[url_type]["relabeling"]["port"] == "Port (the URL's)", url_type


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import os

    home = tmp_path_factory.mktemp("airflow-home")
    return {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["providers", "list"], ["loanhub"]),
        (
            ["providers", "hooks"],
            [
                "loanhub_provider.hooks.soap.SoapHook",
                "loanhub_provider.hooks.sftp.SftpHook",
                "loanhub_provider.hooks.portal.PortalHook",
                "loanhub_provider.hooks.los.LosHook",
            ],
        ),
    ],
)
def test_airflow_cli_lists_the_provider(
    airflow_home: dict[str, str], command: list[str], expected: list[str]
) -> None:
    """The entry point is installed (``uv sync`` installs the project with it)."""
    out = subprocess.run(
        [AIRFLOW, *command, "-o", "plain"],
        env=airflow_home,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for name in expected:
        assert name in out, out
