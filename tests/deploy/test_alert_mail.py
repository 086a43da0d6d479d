"""The alert path end to end, every part real: the bureau simulator switched to fail, the
hub's bureau connector calling it (each attempt journaled in the store), the dashboard serving
``/metrics`` under uvicorn on loopback, Debian's Prometheus scraping it every second with the
project's rules file, and Debian's Alertmanager routing the alert by mail to the SMTP
simulator, where the test reads it.

The rules are the project's own, with every ``for:`` cut to one second (the only change):
the thresholds and expressions under test are the shipped ones.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from pydantic import SecretStr

from connectors.bureau import BureauConnector
from connectors.evidence import EvidenceStore
from devtools.cluster import free_port
from kernel.failures import TransientError
from loanhub.platform.calls import CallJournal
from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings
from tests.connectors.conftest import soap_config
from tests.deploy.test_prometheus_rules import RULES
from tests.loanhub.dashboard.serving import serving

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
TOKEN = "scrape-token-for-the-test"
OPERATIONS = "hub-operations@bank.local"


@contextlib.contextmanager
def dashboard(settings: HubSettings) -> Iterator[str]:
    """The dashboard Prometheus scrapes, as ``host:port``."""
    with serving(settings, users=False) as url:
        yield url.removeprefix("http://")


@contextlib.contextmanager
def process(args: list[str], log: Path, ready: str) -> Iterator[None]:
    """A server of ours, started with its own config and data dir, waited on until ``ready``
    answers, and stopped by its own pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(requests.RequestException):
                if requests.get(ready, timeout=1).ok:
                    break
            assert time.monotonic() < deadline, f"{args[0]} not ready: {log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def quick_rules(target: Path) -> None:
    """The project's rules with ``for:`` one second, so the test waits seconds, not minutes."""
    spec = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in spec["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def mails_about(sim, alert: str, system: str) -> list[dict]:
    return [
        m
        for m in sim.journal("smtp", "mail")
        if alert in m["subject"] + m["body"] and system in m["subject"]
    ]


@pytest.mark.timeout(240)
def test_a_failing_bureau_reaches_operations_by_mail(
    sim, sim_endpoints, pg_url, pg_engine, tmp_path: Path
):
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        database_url=pg_url,
        dashboard={"metrics_token": SecretStr(TOKEN)},
    )
    smtp = sim_endpoints["smtp"]
    am_port, prom_port = free_port(), free_port()
    am_at = f"127.0.0.1:{am_port}"
    (tmp_path / "token").write_text(TOKEN)
    quick_rules(tmp_path / "rules.yml")
    (tmp_path / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "global": {
                    "smtp_smarthost": f"{smtp['host']}:{smtp['port']}",
                    "smtp_from": "alertmanager@bank.local",
                    "smtp_require_tls": False,
                },
                "route": {
                    "receiver": "operations",
                    "group_by": ["alertname", "system"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "operations", "email_configs": [{"to": OPERATIONS}]}],
            }
        )
    )
    with dashboard(settings) as hub:
        (tmp_path / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(tmp_path / "rules.yml")],
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am_at]}]}]},
                    "scrape_configs": [
                        {
                            "job_name": "loanhub",
                            "authorization": {"credentials_file": str(tmp_path / "token")},
                            "static_configs": [{"targets": [hub]}],
                        }
                    ],
                }
            )
        )
        am = [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address={am_at}",
            "--cluster.listen-address=",  # no gossip port: one instance
        ]
        prom = [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        prometheus = f"http://127.0.0.1:{prom_port}"
        with (
            process(am, tmp_path / "am.log", f"http://{am_at}/-/ready"),
            process(prom, tmp_path / "prom.log", f"{prometheus}/-/ready"),
        ):
            wait_for_the_first_scrape(prometheus)
            assert not mails_about(sim, "LoanhubSourceDown", "bureau")  # healthy so far

            sim.controls({"bureau": {"*": {"fault": "busy", "rate": 1.0}}})
            bureau = BureauConnector(
                soap_config(sim_endpoints, "bureau"),
                mask_text,
                EvidenceStore(tmp_path / "evidence", mask_text),
                observer=CallJournal(pg_engine),
            )
            mails: list[dict] = []
            started = time.monotonic()
            deadline = started + 150
            while not mails and time.monotonic() < deadline:
                with pytest.raises(TransientError):  # busy, retried, still busy
                    bureau.retrieve(f"T-{uuid.uuid4().hex[:20]}", "110101199003077774", "01")
                time.sleep(1)
                mails = mails_about(sim, "LoanhubSourceDown", "bureau")
            alerts = requests.get(f"{prometheus}/api/v1/alerts", timeout=10).json()
            print(f"alert mailed {time.monotonic() - started:.1f} s after the first failure")

    assert mails, f"no alert mail in {deadline_note(alerts)}"
    mail = mails[0]
    assert mail["rcpt_tos"] == [OPERATIONS]
    assert "[FIRING" in mail["subject"]
    assert "bureau is down" in mail["body"]
    # the bureau's failures were the hub's own journaled calls, each attempt counted
    with pg_engine.connect() as conn:
        failed = conn.exec_driver_sql(
            "SELECT count(*) FROM source_call WHERE system = 'bureau' AND outcome = 'transient'"
        ).scalar_one()
    assert failed >= 3
    assert len(sim.journal("bureau")) >= failed  # they reached the simulator
    # no other source was called, and none is said to be down
    assert not [m for m in sim.journal("smtp", "mail") if "is down" in m["body"]
                and "bureau" not in m["subject"]]  # fmt: skip


def wait_for_the_first_scrape(prometheus: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = requests.get(
            f"{prometheus}/api/v1/query", params={"query": 'up{job="loanhub"}'}, timeout=5
        ).json()["data"]["result"]
        if found and found[0]["value"][1] == "1":
            return
        time.sleep(0.3)
    raise AssertionError("Prometheus never scraped the dashboard")


def deadline_note(alerts: dict) -> str:
    """What Prometheus had when the wait ended, for the failure message."""
    return str([(a["labels"].get("alertname"), a["state"]) for a in alerts["data"]["alerts"]])
