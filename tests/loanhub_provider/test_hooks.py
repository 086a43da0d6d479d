"""Each hook builds its connector's typed config from an Airflow Connection (``AIRFLOW_CONN_*``
here, a bank's secrets backend in the subprocess test), registers the secrets with Airflow's
masker, and its "Test" tells a working connection from a wrong password or host key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from loanhub_provider.hooks import BureauHook, CoreHook, LosHook, PortalHook, SftpHook, SmtpHook

ROOT = Path(__file__).resolve().parents[2]
HOOKS = [BureauHook, CoreHook, SftpHook, PortalHook, LosHook, SmtpHook]


def revealed(config: object) -> dict:
    """A config as plain JSON, secrets in clear (to compare with the simulators' endpoints)."""
    from pydantic import BaseModel, SecretStr

    assert isinstance(config, BaseModel)
    out = {}
    for name, value in config:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, BaseModel):
            continue
        out[name] = str(value) if isinstance(value, Path) else value
    return out


def test_each_hook_builds_its_typed_config_from_the_connection(
    conn_env: dict, sim_endpoints: dict
) -> None:
    bureau = revealed(BureauHook().get_config())
    assert {k: bureau[k] for k in ("url", "wsdl", "username", "password")} == {
        k: sim_endpoints["bureau"][k] for k in ("url", "wsdl", "username", "password")
    }
    assert revealed(CoreHook().get_config())["password"] == sim_endpoints["core"]["password"]
    sftp = revealed(SftpHook().get_config())
    for key in ("host", "port", "username", "private_key", "host_key", "host_key_fingerprint"):
        assert sftp[key] == sim_endpoints["sftp"][key], key
    assert revealed(PortalHook().get_config()) == sim_endpoints["ss_portal"]
    robot = sim_endpoints["los"]
    assert revealed(LosHook().get_config()) == {
        "url": sim_endpoints["los"]["url"],
        "username": robot["username"],
        "password": robot["password"],
    }
    assert LosHook().approval_limit == Decimal(robot["limit"])
    smtp = SmtpHook().get_config()
    assert (smtp.host, smtp.port, smtp.sender) == (
        sim_endpoints["smtp"]["host"],
        sim_endpoints["smtp"]["port"],
        "loanhub@bank.local",
    )


def test_a_hook_reads_the_connection_it_is_given(
    conn_env: dict, sim_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = {**sim_connections["loanhub_bureau"], "login": "another_user"}
    monkeypatch.setenv("AIRFLOW_CONN_BUREAU_UAT", json.dumps(other))
    assert BureauHook(conn_id="bureau_uat").get_config().username == "another_user"
    assert BureauHook().get_config().username == sim_connections["loanhub_bureau"]["login"]


def test_the_endpoints_from_connections_give_the_los_robot_alone(
    conn_env: dict, sim_endpoints: dict
) -> None:
    from loanhub_provider.connections import endpoints_from_connections

    endpoints = endpoints_from_connections()
    robot = sim_endpoints["los"]
    assert endpoints.los.username == robot["username"]
    assert Decimal(endpoints.los.limit) == Decimal(robot["limit"])
    assert endpoints.bureau.url == sim_endpoints["bureau"]["url"]
    assert endpoints.sftp.host_key == sim_endpoints["sftp"]["host_key"]


LOCAL_BACKEND_SCRIPT = """
import json
from loanhub_provider.connections import endpoints_from_connections
e = endpoints_from_connections()
print(json.dumps({
    "bureau_password": e.bureau.password.get_secret_value(),
    "sftp_host_key": e.sftp.host_key,
    "totp": e.ss_portal.totp_secret.get_secret_value(),
    "los": [e.los.username],
    "smtp_port": e.smtp.port,
}))
"""


def test_connections_come_from_a_secrets_backend_as_a_bank_configures_it(
    sim_connections: dict, sim_endpoints: dict, tmp_path: Path
) -> None:
    """Airflow's local filesystem backend (a Vault in production), no ``AIRFLOW_CONN_*``."""
    path = tmp_path / "connections.json"
    path.write_text(json.dumps(sim_connections))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(path)}),
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", LOCAL_BACKEND_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got == {
        "bureau_password": sim_endpoints["bureau"]["password"],
        "sftp_host_key": sim_endpoints["sftp"]["host_key"],
        "totp": sim_endpoints["ss_portal"]["totp_secret"],
        "los": [sim_endpoints["los"]["username"]],
        "smtp_port": sim_endpoints["smtp"]["port"],
    }


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_test_connection_succeeds_against_the_simulators(conn_env: dict, sim, hook) -> None:
    """...with a call that changes and costs nothing: no hard bureau inquiry, no mail, no
    failed login (the portals lock a user out after 5)."""
    ok, message = hook().test_connection()
    assert ok, message
    harmful = [
        j
        for j in sim.journal()
        if (j["system"], j["kind"]) in {("bureau", "query"), ("smtp", "mail")}
        or j["kind"] == "auth_failed"
    ]
    assert harmful == []


@pytest.mark.parametrize("conn_id", ["loanhub_bureau", "loanhub_core"])
def test_test_connection_says_a_wrong_password_is_refused(
    conn_id: str, conn_env: dict, sim_connections: dict, monkeypatch: pytest.MonkeyPatch, sim
) -> None:
    wrong = {**sim_connections[conn_id], "password": "not-the-password"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(wrong))
    hook = BureauHook if conn_id == "loanhub_bureau" else CoreHook
    ok, message = hook().test_connection()
    assert not ok
    assert message.startswith("authentication refused"), message


def test_test_connection_says_the_host_key_is_not_the_pinned_one(
    conn_env: dict, sim_connections: dict, sim_endpoints: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_key = Path(sim_endpoints["sftp"]["private_key"] + ".pub").read_text().strip()
    sftp = sim_connections["loanhub_sftp"]
    wrong = {**sftp, "extra": {**sftp["extra"], "host_key": other_key}}
    monkeypatch.setenv("AIRFLOW_CONN_LOANHUB_SFTP", json.dumps(wrong))
    ok, message = SftpHook().test_connection()
    assert not ok
    assert message.startswith("host key does not match the pinned key"), message


def test_the_client_key_can_be_given_as_text_and_is_masked(
    conn_env: dict, sim_connections: dict, sim_endpoints: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    pem = Path(sim_endpoints["sftp"]["private_key"]).read_text()
    sftp = sim_connections["loanhub_sftp"]
    extra = {k: v for k, v in sftp["extra"].items() if k != "private_key_path"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOANHUB_SFTP", json.dumps({**sftp, "extra": {**extra, "private_key": pem}})
    )
    config = SftpHook().get_config()
    assert config.private_key.read_text() == pem
    assert oct(config.private_key.stat().st_mode & 0o777) == "0o600"
    assert SftpHook().test_connection()[0]
    line = pem.strip().splitlines()[1]
    assert pem.strip() not in redact(f"key: {pem.strip()}")
    assert line not in str(redact(f"key: {pem.strip()}"))


def test_every_secret_is_registered_with_airflows_masker(
    conn_env: dict, sim_endpoints: dict
) -> None:
    """A secret that appears in a log line on its own (not inside the connection's extra JSON,
    which Airflow masks as a whole) is redacted too: the TOTP seed, the passwords."""
    from airflow.sdk._shared.secrets_masker import redact

    PortalHook().get_config()
    LosHook().get_config()
    BureauHook().get_config()
    portal = sim_endpoints["ss_portal"]
    for secret in (
        portal["totp_secret"],
        portal["password"],
        sim_endpoints["los"]["password"],
        sim_endpoints["bureau"]["password"],
    ):
        logged = redact(f"logging in with {secret} now")
        assert secret not in logged, secret
        assert "***" in logged


URL_TYPES = {"loanhub_bureau": BureauHook, "loanhub_core": CoreHook}
URL_TYPES.update({"loanhub_ss_portal": PortalHook, "loanhub_los": LosHook})


def test_the_stored_port_is_the_urls_own(sim_connections: dict) -> None:
    """Airflow's UI sends the form's port to "Test"; a stored port that is not the one the form
    shows is refused (HTTP 400) before any hook runs, so sim up stores the URL's port."""
    from urllib.parse import urlsplit

    for conn_id in URL_TYPES:
        document = sim_connections[conn_id]
        assert document["port"] == urlsplit(document["host"]).port, conn_id


@pytest.mark.parametrize("conn_id", sorted(URL_TYPES))
def test_a_port_that_is_not_the_urls_is_refused_in_one_line(
    conn_id: str, conn_env: dict, sim_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = sim_connections[conn_id]
    wrong = {**document, "port": document["port"] + 1}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(wrong))
    with pytest.raises(ValueError, match="is not the port of") as raised:
        URL_TYPES[conn_id]().get_config()
    assert "\n" not in str(raised.value)
    ok, message = URL_TYPES[conn_id]().test_connection()
    assert not ok
    assert f"port {document['port'] + 1} is not the port of {document['host']}" in message
    assert "\n" not in message
    default = {**document, "host": "http://127.0.0.1/x", "port": 80}  # the scheme's default
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(default))
    assert URL_TYPES[conn_id]().get_config().url == "http://127.0.0.1/x"
