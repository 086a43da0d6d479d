"""No Docker engine runs here, so the compose stack is checked by reading it: the services the
issue names, healthchecks and start conditions, one shared Airflow environment on Celery,
Redis and PostgreSQL, the hub's settings by their real names, pools, ports, and the image."""

from __future__ import annotations

import importlib
import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from loanhub.flows.rules import RuleSet
from loanhub.runtime.settings import HubSettings, LegacyEndpoints

ROOT = Path(__file__).resolve().parents[1]
STACK = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = STACK["services"]
AIRFLOW = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
ONE_SHOT = {"airflow-init"}


def test_the_stack_has_every_service():
    assert set(SERVICES) == {"postgres", "redis", "simulators", *AIRFLOW}


def test_one_user_store_airflows():
    """The dashboard is served inside Airflow behind Airflow's login: no service of its own
    and no users of its own made anywhere in the stack."""
    stack = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "dashboard-user" not in stack
    assert not any("dashboard" in " ".join(s.get("command") or []) for s in SERVICES.values())


@pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
def test_every_long_running_service_has_a_healthcheck(name):
    check = SERVICES[name]["healthcheck"]["test"]
    assert check[0] in ("CMD", "CMD-SHELL")
    assert len(check) >= 2


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_dependency_waits_for_a_condition(name):
    for needed, how in (SERVICES[name].get("depends_on") or {}).items():
        assert needed in SERVICES, (name, needed)
        expected = "service_completed_successfully" if needed in ONE_SHOT else "service_healthy"
        assert how["condition"] == expected, (name, needed)
    if name in AIRFLOW:
        needs = SERVICES[name]["depends_on"]
        assert {"postgres", "redis"} <= set(needs)
        if name not in ONE_SHOT:
            assert "airflow-init" in needs


def test_airflow_runs_on_celery_with_redis_and_postgres_and_one_set_of_secrets():
    envs = [SERVICES[name]["environment"] for name in AIRFLOW]
    for env in envs:
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
        assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-apiserver:8080/"
        )
    for secret in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert len({env[secret] for env in envs}) == 1  # the same for every process
        assert ":?" in envs[0][secret]  # compose refuses to start without it


def test_every_approver_of_the_rule_set_is_an_airflow_user():
    users = SERVICES["airflow-apiserver"]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    default = re.fullmatch(r"\$\{AIRFLOW_USERS:-(.+)\}", users)[1]
    named = dict(u.split(":") for u in default.split(","))
    approvers = {n for tier in RuleSet.load().spec.tiers for n in tier.approvers}
    assert {"admin", "credit_ops", *approvers} <= set(named)  # referrals can be answered
    assert named["admin"] == "admin"
    script = SERVICES["airflow-init"]["command"][1]
    assert "AIRFLOW_PASSWORDS" in script
    assert ":?" in SERVICES["airflow-init"]["environment"]["AIRFLOW_PASSWORDS"]


def test_every_service_sharing_the_data_volume_runs_as_one_user():
    """Files the init writes owner-only (endpoints, passwords, users) must be readable by
    the services that read them."""
    sharing = [
        s for s in SERVICES.values() if "loanhub-var:/opt/loanhub/var" in s.get("volumes", [])
    ]
    assert len(sharing) == len(SERVICES) - 2  # all but postgres and redis
    assert {s["user"] for s in sharing} == {"${AIRFLOW_UID:-50000}:0"}


def test_workers_scale():
    worker = SERVICES["airflow-worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"] == "celery worker"


def test_the_hubs_variables_are_settings_it_has():
    for name, service in SERVICES.items():
        for key in service.get("environment") or {}:
            if key.startswith("LOANHUB_ENDPOINT_"):
                system = key.removeprefix("LOANHUB_ENDPOINT_").lower()
                assert system in LegacyEndpoints.SYSTEMS, (name, key)
            elif key.startswith("LOANHUB_") and not key.endswith("_PASSWORD"):
                model: type = HubSettings
                *components, field = key.removeprefix("LOANHUB_").lower().split("__")
                for component in components:  # a component's spec: LOANHUB_<COMPONENT>__<FIELD>
                    assert component in model.model_fields, (name, key)
                    model = model.model_fields[component].annotation
                assert field in model.model_fields, (name, key)


def test_airflow_keeps_the_banks_time_zone():
    """Airflow's default zone (naive times, the zone its pages name) is the hub's, from one
    variable; the default is the settings' own."""
    env = STACK["x-airflow-common"]["environment"]
    default = f"${{LOANHUB_TIMEZONE:-{HubSettings.model_fields['timezone'].default}}}"
    assert env["LOANHUB_TIMEZONE"] == default
    assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == default


def test_pools_are_the_hubs_and_the_init_imports_them():
    env = SERVICES["airflow-init"]["environment"]
    pools = json.loads(env["LOANHUB_ORCHESTRATION__POOLS"])
    assert set(pools) == set(HubSettings().orchestration.pools)  # every pool a DAG task names
    assert all(n >= 1 for n in pools.values())
    script = SERVICES["airflow-init"]["command"][1]
    assert "loanhub airflow-pools > /tmp/loanhub-pools.json" in script
    assert "airflow pools import /tmp/loanhub-pools.json" in script
    assert "airflow db migrate" in script
    assert "loanhub db upgrade" in script


def test_ports_agree_with_the_programs():
    assert "8080:8080" in SERVICES["airflow-apiserver"]["ports"]
    sim = SERVICES["simulators"]
    args = dict(a.removeprefix("--").split("=", 1) for a in sim["command"][1:])
    assert args["advertise"] == "simulators"  # the name the other services reach it by
    assert {int(args["http-port"]), int(args["sftp-port"]), int(args["smtp-port"])} == set(
        sim["expose"]
    )
    assert args["http-port"] in " ".join(sim["healthcheck"]["test"])
    script = SERVICES["airflow-init"]["command"][1]
    assert f"airflow connections import --overwrite {args['data-dir']}/connections.json" in script
    assert f"simulators-data:{args['data-dir']}" in sim["volumes"]  # the file the init imports
    assert f"simulators-data:{args['data-dir']}:ro" in SERVICES["airflow-worker"]["volumes"]


def test_the_init_imports_the_connections_from_a_secret():
    """Credentials from Airflow only: the connections file is a docker secret the init imports
    into Airflow, checked there; no service reads an endpoints file or LOANHUB_ENDPOINT_*."""
    init = SERVICES["airflow-init"]
    script = init["command"][1]
    mounted = {s["target"]: s["source"] for s in init["secrets"] if isinstance(s, dict)}
    assert mounted["loanhub-connections.json"] == "loanhub-connections"
    assert "airflow connections import --overwrite /run/secrets/loanhub-connections.json" in script
    assert STACK["secrets"]["loanhub-connections"]["file"].startswith("${LOANHUB_CONNECTIONS_FILE")
    assert "for system in bureau core sftp ss_portal los smtp" in script
    assert "airflow connections get" in script  # every connection resolves, or the init fails
    assert "loanhub endpoints" not in script
    for name, service in SERVICES.items():
        for key in service.get("environment") or {}:
            assert not key.startswith("LOANHUB_ENDPOINT"), (name, key)  # _ENDPOINT_*, _FILE
            assert key != "LOANHUB_SIM_DIR", (name, key)  # the hub never finds the sim's file
    example = (ROOT / ".env.example").read_text()
    assert "LOANHUB_ENDPOINT" not in example


def _defaults(text: str) -> str:
    """A compose value with each ``${VAR-default}`` / ``${VAR:-default}`` at its default."""
    return re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", text)


def test_airflow_looks_the_connections_up_in_vault():
    from airflow.providers.hashicorp.secrets.vault import VaultBackend

    for name in AIRFLOW:
        service = SERVICES[name]
        env = service["environment"]
        backend = _defaults(env["AIRFLOW__SECRETS__BACKEND"])
        module, _, cls = backend.rpartition(".")
        assert getattr(importlib.import_module(module), cls) is VaultBackend, name
        kwargs = json.loads(_defaults(env["AIRFLOW__SECRETS__BACKEND_KWARGS"]))
        VaultBackend(**kwargs)  # every parameter is one the provider has (no Vault contacted)
        assert kwargs["connections_path"] == "connections"
        assert kwargs["auth_type"] == "token"
        assert "token" not in kwargs  # no secret in the environment: a docker secret's file
        assert kwargs["token_path"] == "/run/secrets/vault-token"
        assert "vault-token" in service["secrets"], name
    assert STACK["secrets"]["vault-token"]["file"].startswith("${VAULT_TOKEN_FILE")


def test_no_dashboard_user_is_made_or_given_a_password():
    """The dashboard's own users are gone from the stack: no first user made by the init, no
    password for one in the environment or .env."""
    script = SERVICES["airflow-init"]["command"][1]
    assert "dashboard-user" not in script
    for name, service in SERVICES.items():
        for key in service.get("environment") or {}:
            assert "DASHBOARD_OPERATOR" not in key, (name, key)
            assert "USERS_FILE" not in key, (name, key)
    assert "LOANHUB_DASHBOARD_OPERATOR_PASSWORD" not in (ROOT / ".env.example").read_text()


def test_the_image_is_the_airflow_we_lock_plus_the_browser():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert base.startswith(f"apache/airflow:{version('apache-airflow')}-python3.11")
    for package in ("chromium", "fonts-wqy-microhei"):
        assert package in dockerfile
    assert "uv export --frozen" in dockerfile  # the locked versions


# -- no default secrets, no password on a command line, owner-only files, a sandboxed browser --

SECRETS = {
    "POSTGRES_PASSWORD",
    "LOANHUB_DB_PASSWORD",
    "LOANHUB_DB_OWNER_PASSWORD",
    "LOANHUB_AUDIT_KEY",
    "REDIS_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_SECRET_KEY",
    "AIRFLOW_PASSWORDS",
    "LOANHUB_DASHBOARD_SECRET",
    "LOANHUB_METRICS_TOKEN",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|(?:^|_)KEY(?:$|_)|_AUTH$")
NOT_A_SECRET = re.compile(r"_(FILE|PATH|DIR|BACKEND|KWARGS|MOUNT_POINT)$|TOKEN_FILE")
_REFERENCE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|(\w+))")


class MissingVariable(ValueError):
    """What ``docker compose config`` answers for a required variable that is not set."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation (compose-spec, "Interpolation"): ``$$`` for a literal ``$``,
    ``${VAR}``, ``${VAR:-default}``/``${VAR-default}``, ``${VAR:?error}``/``${VAR?error}``
    (an error when unset, or empty too with the colon), ``${VAR:+alt}``, ``$VAR``."""

    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name = m[1] or m[4]
        op, arg = m[2], m[3] or ""
        value = env.get(name)
        empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-"):
            return interpolate(arg, env) if empty or value is None else value
        if op in (":+", "+"):
            return interpolate(arg, env) if value and not empty else ""
        return value or ""

    return _REFERENCE.sub(one, text)


COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def configured(env: dict[str, str]) -> dict:
    """The stack as ``docker compose config`` makes it with ``env``: the YAML read, then
    every string value interpolated (comments are not; keys are not)."""

    def walk(node: object) -> object:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(yaml.safe_load(COMPOSE_TEXT))


def references(node: object) -> list[re.Match[str]]:
    """Every ``$...`` reference in the stack's values."""
    if isinstance(node, str):
        return list(_REFERENCE.finditer(node))
    values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [m for v in values for m in references(v)]


def given(**overrides: str) -> dict[str, str]:
    """Every secret set to a value of its own (``<NAME>``), hex as .env.example says."""
    return {name: f"{name.lower().replace('_', '')}0123" for name in SECRETS} | overrides


def test_compose_refuses_to_start_without_each_secret():
    with pytest.raises(MissingVariable):
        configured({})
    for name in sorted(SECRETS):
        unset = {k: v for k, v in given().items() if k != name}
        for env in (unset, given(**{name: ""})):  # unset, or set empty as .env.example is
            with pytest.raises(MissingVariable, match=name):
                configured(env)
    assert set(configured(given())["services"]) == set(SERVICES)


def test_no_default_is_a_secret():
    """Every ``${VAR:-default}`` is of a variable that is no secret; every environment
    variable that holds a secret, and every password in a URL, comes from a required one."""
    for m in references(yaml.safe_load(COMPOSE_TEXT)):
        if m[2] in (":-", "-"):
            assert not SECRET_NAME.search(m[1]) or NOT_A_SECRET.search(m[1]), m[0]
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", m[3] or ""), m[0]  # no URL password
    stack = configured(given())
    values = given().values()
    for name, service in stack["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and not NOT_A_SECRET.search(key):
                assert str(value) in values, (name, key, value)
            for url in re.findall(r"\w[\w+.-]*://[^\s'\"]+", str(value)):
                userinfo = url.split("://", 1)[1].partition("@")
                if userinfo[1]:
                    assert userinfo[0].partition(":")[2] in values, (name, key)
    broker = SERVICES["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
    assert broker.startswith("redis://:${REDIS_PASSWORD:?")
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in SECRETS:
        assert example.get(name, "") == "", f".env.example gives {name} a value"


def _command_lines(service: dict) -> list[str]:
    """What a service runs: its entrypoint, its command and its healthcheck, as text."""
    parts = []
    for field in ("entrypoint", "command"):
        value = service.get(field)
        parts.extend([value] if isinstance(value, str) else value or [])
    parts.extend((service.get("healthcheck") or {}).get("test", [])[1:])
    return parts


def test_no_password_on_a_command_line():
    """A secret interpolated by compose into a command would be on the process's argv (and
    in ``docker inspect``): none is. A container's own secret variable may be read by its
    shell only into a builtin (``printf`` to a file or a pipe), never as a program's argument."""
    env_names = SECRETS | {"REDISCLI_AUTH"}
    for name, service in SERVICES.items():
        for text in _command_lines(service):
            for m in _REFERENCE.finditer(text):
                assert m[0] == "$$" or not SECRET_NAME.search(m[1] or m[4] or ""), (name, m[0])
            for line in text.splitlines():
                if any(f"$${{{v}}}" in line or f"$${v}" in line for v in env_names):
                    assert line.strip().startswith("printf "), (name, line)
            assert not re.search(r"(^|\s)(-a|--pass|--password|--requirepass)(\s|=|$)", text)
    init = (ROOT / "scripts" / "compose" / "postgres-init.sh").read_text()
    assert "-v password=" not in init
    assert "\\getenv password LOANHUB_DB_PASSWORD" in init
    assert "\\getenv owner_password LOANHUB_DB_OWNER_PASSWORD" in init


def test_redis_asks_for_a_password_from_its_own_config(tmp_path: Path):
    """The compose's own Redis command, run here (the image's entrypoint and redis-cli given
    a test port): the password is in a 0600 config file, not on redis-server's command line;
    a client without it is refused, the healthcheck passes with REDISCLI_AUTH only, and the
    Celery broker URL's password works."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    import redis

    if not shutil.which("redis-server"):
        pytest.skip("no redis-server here")
    stack = configured(given())
    service = stack["services"]["redis"]
    password = service["environment"]["REDISCLI_AUTH"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker-entrypoint.sh").write_text(
        f'#!/bin/sh\nexec "$@" --port {port} --bind 127.0.0.1 --save "" --dir {tmp_path}\n'
    )
    (bin_dir / "redis-cli").write_text(
        f'#!/bin/sh\nexec {shutil.which("redis-cli")} -p {port} "$@"\n'
    )
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    conf = tmp_path / "redis.conf"
    script = service["command"][0].replace("/tmp/redis.conf", str(conf))
    if os.geteuid() != 0:
        script = script.replace('chown redis:redis "${conf}"', "true")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **service["environment"]}
    server = subprocess.Popen(
        [*service["entrypoint"], script], env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port).ping()
            except redis.AuthenticationError:
                break  # up, and asking for the password
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)
            else:
                pytest.fail("redis answered a client without the password")
        assert oct(conf.stat().st_mode & 0o777) == "0o600"
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert password.encode() not in argv
        check = service["healthcheck"]["test"][1]
        ok = subprocess.run(["/bin/sh", "-c", check], env=env, check=False)
        assert ok.returncode == 0
        without = {k: v for k, v in env.items() if k != "REDISCLI_AUTH"}
        assert subprocess.run(["/bin/sh", "-c", check], env=without, check=False).returncode != 0
        broker = stack["services"]["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
        assert redis.Redis.from_url(broker.replace("@redis:6379", f"@127.0.0.1:{port}")).ping()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)


def test_every_process_of_the_image_is_owner_only_and_not_root():
    """The image's entrypoint sets umask 077 before Airflow's own; the init's script too (it
    replaces the entrypoint); the last USER is the airflow user; Airflow's task logs and
    their folders are made owner-only (options the installed Airflow has)."""
    from airflow.configuration import conf

    dockerfile = (ROOT / "Dockerfile").read_text()
    (entrypoint,) = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, re.M)
    argv = json.loads(entrypoint)
    assert argv[:2] == ["/usr/bin/dumb-init", "--"]
    assert "umask 077 && exec /entrypoint" in argv[-2]
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users[-1] not in ("root", "0")
    assert "chmod 0700 /opt/loanhub/var" in dockerfile
    assert SERVICES["airflow-init"]["command"][1].splitlines()[1] == "umask 077"
    for name in AIRFLOW:
        env = SERVICES[name]["environment"]
        assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"] == "0o600"
        assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS"] == "0o700"
        assert env["AIRFLOW__CORE__DAEMON_UMASK"] == "0o077"
        uid = _defaults(SERVICES[name]["user"]).split(":")[0]
        assert uid not in ("0", "root"), name
    for option in (
        "file_task_handler_new_file_permissions",
        "file_task_handler_new_folder_permissions",
    ):
        assert conf.has_option("logging", option)


def test_the_bots_chromium_keeps_its_sandbox_unless_root():
    from bots.config import CHROMIUM_ARGS, BrowserConfig

    assert "--no-sandbox" not in CHROMIUM_ARGS
    assert "--no-sandbox" not in BrowserConfig().launch_args(euid=50000)
    assert "--no-sandbox" not in BrowserConfig(args=("--no-sandbox",)).launch_args(euid=50000)
    assert "--no-sandbox" in BrowserConfig().launch_args(euid=0)  # Chromium refuses root else
    for text in (COMPOSE_TEXT, (ROOT / "Dockerfile").read_text()):
        assert "no-sandbox" not in text


def test_chromium_runs_sandboxed_as_a_non_root_user():
    """The system Chromium, launched with the hub's arguments as a non-root user (nobody,
    here; the airflow user in the image), starts, and its renderers run in a user namespace
    of their own: the sandbox is on."""
    import os
    import shutil
    import subprocess
    import time

    from bots.config import BrowserConfig

    config = BrowserConfig()
    if not config.executable_path.exists():
        pytest.skip("no Chromium here")
    import tempfile

    uid = 65534 if os.geteuid() == 0 else os.geteuid()
    home = Path(tempfile.mkdtemp(prefix="loanhub-sandbox-"))  # pytest's tmp is root's only
    if os.geteuid() == 0:
        os.chown(home, uid, uid)
    drop = (
        [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        if os.geteuid() == 0
        else []
    )
    args = config.launch_args(euid=uid)
    assert "--no-sandbox" not in args
    browser = subprocess.Popen(
        [
            *drop,
            "env",
            f"HOME={home}",
            str(config.executable_path),
            *args,
            "--headless",
            "--remote-debugging-port=0",
            f"--user-data-dir={home / 'profile'}",
            "data:text/html,<p>sandboxed</p>",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        mine = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + 20
        renderers: list[str] = []
        while not renderers:
            assert browser.poll() is None, "Chromium did not start without --no-sandbox"
            assert time.monotonic() < deadline, "no renderer"
            time.sleep(0.2)
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes()  # one string (setproctitle)
                    if b"--type=renderer" in argv and str(home).encode() in argv:
                        renderers.append(os.readlink(f"/proc/{pid}/ns/user"))
                except OSError:
                    continue
        assert all(ns != mine for ns in renderers), "a renderer runs unsandboxed"
    finally:
        os.killpg(browser.pid, 15)
        browser.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def test_only_airflow_init_holds_the_stores_owner():
    """The store's owner migrates, in airflow-init alone, and grants the runtime role its
    rights there; every running service reaches the store as the runtime role, which may only
    insert and read the audit chain (a service's compromise cannot rewrite it)."""
    stack = configured(given())["services"]
    for name, service in stack.items():
        env = service.get("environment") or {}
        owner = env.get("LOANHUB_DATABASE_OWNER_URL")
        if name == "airflow-init":
            assert owner is not None
            assert owner.startswith("postgresql+psycopg://loanhub_owner:")
        else:
            assert owner is None, name
        if "LOANHUB_DATABASE_URL" in env:
            assert env["LOANHUB_DATABASE_URL"].startswith("postgresql+psycopg://loanhub:"), name
    assert "loanhub db upgrade --grant loanhub" in "\n".join(_command_lines(stack["airflow-init"]))
    init = (ROOT / "scripts" / "compose" / "postgres-init.sh").read_text()
    assert "CREATE DATABASE loanhub OWNER loanhub_owner;" in init
