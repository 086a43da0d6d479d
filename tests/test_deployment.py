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
