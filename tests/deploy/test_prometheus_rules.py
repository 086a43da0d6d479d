"""The alerting rules in ``deploy/prometheus``: valid, unit-tested with ``promtool test rules``
(every alert has a case that fires and one that must not), and the tests can fail: a changed
threshold is caught. The example Prometheus and Alertmanager configs are valid too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kernel.calls import SUCCESSFUL

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "loanhub-rules.yml"
TESTS = ("loanhub-rules.test.yml", "loanhub-rules.days.test.yml")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


def promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_the_rules_are_valid():
    run = promtool("check", "rules", str(RULES))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_the_rules_pass_their_unit_tests():
    run = promtool("test", "rules", *TESTS)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert run.stdout.count("SUCCESS") == len(TESTS)


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    fires: set[str] = set()
    quiet: set[str] = set()
    for name in TESTS:
        for case in yaml.safe_load((RULES_DIR / name).read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    assert set(alerts()) == fires
    assert set(alerts()) == quiet


@pytest.mark.parametrize(
    ("alert", "was", "now"),
    [
        ("LoanhubWorkNeedsHuman", "> 4 * 3600", "> 5 * 3600"),
        ("LoanhubSourceDown", ">= 3", ">= 30"),
        ("LoanhubFileRejected", "loanhub_files_rejected > 0", "loanhub_files_rejected > 1"),
    ],
)
def test_a_changed_threshold_fails_the_unit_tests(tmp_path: Path, alert: str, was: str, now: str):
    """The unit tests are not vacuous: a threshold moved in a copy of the rules is caught."""
    for f in (RULES, RULES_DIR / TESTS[0]):
        shutil.copy(f, tmp_path / f.name)
    assert was in alerts()[alert]["expr"]
    text = RULES.read_text(encoding="utf-8")
    start = text.index(f"- alert: {alert}\n")
    at = text.index(was, start)  # the first occurrence in this alert's expression
    (tmp_path / RULES.name).write_text(text[:at] + now + text[at + len(was) :], "utf-8")
    run = promtool("test", "rules", TESTS[0], cwd=tmp_path)
    assert run.returncode != 0
    assert f"alertname: {alert}," in run.stdout + run.stderr


def test_a_success_is_what_the_kernel_calls_one():
    """The rules' ``outcome=~"ok|business"`` is kernel.calls.SUCCESSFUL, word for word."""
    found = set(re.findall(r'outcome=~"([^"]+)"', RULES.read_text(encoding="utf-8")))
    assert found
    for pattern in found:
        assert set(pattern.split("|")) == {o.value for o in SUCCESSFUL}


def test_every_alert_is_labelled_and_explained():
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["labels"]["service"] == "loanhub", name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["description"], name


def test_the_example_configs_are_valid():
    run = promtool("check", "config", "--syntax-only", "prometheus.example.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    example = yaml.safe_load((RULES_DIR / "prometheus.example.yml").read_text(encoding="utf-8"))
    assert [j["job_name"] for j in example["scrape_configs"]] == ["loanhub"]  # up{job="loanhub"}
    manager = ROOT / "deploy" / "alertmanager" / "loanhub-alertmanager.example.yml"
    run = subprocess.run(
        [AMTOOL, "check-config", str(manager)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
