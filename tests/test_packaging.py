"""The wheel a bank installs: the product (and the simulators it is demonstrated on), never
the development tools, the scripted humans or any test code.

It is built here for real, with the project's own build backend, and its file list read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"loanhub", "kernel", "contracts", "schemas", "mappings", "connectors", "bots", "dags"}
SHIPPED |= {"loanhub_provider"}  # the Airflow provider: its entry point names it
SHIPPED |= {"simulators"}  # the compose stack runs them from the image
NEVER = {"devtools", "tests", "bench", "scripts", "docs"}
SCRIPTED_HUMANS = ("credit_ops", "los_checker")  # answer reviews without the API's checks


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = out.glob("loanhub-*.whl")
    with zipfile.ZipFile(wheel) as built:
        return built.namelist()


def offending(names: list[str]) -> list[str]:
    """What a wheel must not hold: development tools, scripted humans, test code."""
    bad = []
    for name in names:
        top = name.split("/")[0]
        leaf = name.rsplit("/", 1)[-1]
        if (
            top in NEVER
            or any(h in leaf for h in SCRIPTED_HUMANS)
            or leaf.startswith(("test_", "conftest"))
        ):
            bad.append(name)
    return bad


def test_the_wheel_holds_no_devtools_scripted_humans_or_tests(wheel_files: list[str]) -> None:
    assert offending(wheel_files) == []
    tops = {n.split("/")[0] for n in wheel_files if "/" in n and ".dist-info" not in n}
    assert tops == SHIPPED


def test_the_wheel_holds_the_data_the_product_reads(wheel_files: list[str]) -> None:
    for data in (
        "contracts/copybooks/LNREPAY.cpy",
        "contracts/wsdl/bureau.wsdl",
        "loanhub/flows/rule_sets/credit-v1.yaml",
        "mappings/bureau_personal.yaml",
        "loanhub/dashboard/templates/base.html",
        "loanhub/locale/zh_CN/LC_MESSAGES/messages.po",
        "schemas/migrations/env.py",
        "dags/support/review.py",
    ):
        assert data in wheel_files, data


def test_the_check_catches_each_kind_of_intruder() -> None:
    assert offending(
        [
            "devtools/demo.py",
            "dags/support/credit_ops.py",
            "simulators/los_checker.py",
            "loanhub/test_x.py",
            "tests/conftest.py",
            "loanhub/flows/harvest.py",
        ]
    ) == [
        "devtools/demo.py",
        "dags/support/credit_ops.py",
        "simulators/los_checker.py",
        "loanhub/test_x.py",
        "tests/conftest.py",
    ]


def test_the_dockerfile_copies_every_shipped_package() -> None:
    copied = {
        line.split()[-1].removeprefix("./")
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and line.split()[-1].startswith("./")
    }
    assert copied >= SHIPPED
    assert not copied & NEVER
