"""Airflow's "Add connection" form with the loanhub connection types, photographed in Chromium:
``python -m devtools.connection_form [--sim-dir DIR]`` writes
``docs/images/airflow-connection-types.png``.

It starts an ``airflow api-server`` of its own (SQLite home in a temporary folder, a free port,
a SimpleAuthManager admin), signs in, opens the type list filtered to "loanhub" and each type's
form with its extra fields, and puts them side by side in one picture. With ``--sim-dir`` (the
simulators running) it also saves an SFTP connection to them twice, with the pinned host key
and with another key, and a bureau (``loanhub_soap``) connection twice, with the right and a
wrong password, presses each row's "Test Connection" and prints the four answers (the toasts
are photographed too with ``--test-shots DIR``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from devtools.cluster import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = ROOT / "docs" / "images" / "airflow-connection-types.png"
PASSWORD = "connection-form-admin"  # noqa: S105 - a throwaway local server's admin
FORMS = ["SOAP service", "SFTP exchange", "social-security portal", "loan origination"]


def start_api_server(home: Path, port: int) -> tuple[subprocess.Popen, dict[str, str]]:
    (home / "dags").mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "connection-form-jwt-secret-0123456789abcdef",
        "AIRFLOW__API__SECRET_KEY": "connection-form-secret-key",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    log = (home / "api-server.log").open("w")
    proc = subprocess.Popen(
        [BIN / "airflow", "api-server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2
            ):
                return proc, env
        except OSError:
            time.sleep(1)
    stop(proc)
    raise RuntimeError(f"api-server did not come up: see {home / 'api-server.log'}")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def photograph(
    base: str, shots: Path, sftp: dict | None, bureau: dict | None = None, tests: Path | None = None
) -> list[str]:
    """The pictures (PNG files under ``shots``), and the "Test" answers when ``sftp`` /
    ``bureau`` (each answer's page photographed under ``tests``)."""
    from playwright.sync_api import sync_playwright

    from bots.config import BrowserConfig

    answers: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(BrowserConfig().executable_path), args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 1000})
        page.goto(base + "/auth/login")
        page.locator("input").nth(0).fill("admin")
        page.locator("input[type=password]").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)

        def add_form(kind: str) -> None:
            page.goto(base + "/connections")
            page.get_by_role("button", name="Add Connection").click()
            page.wait_for_timeout(1500)
            page.locator("[role=combobox]").last.click(force=True)
            page.keyboard.type(kind)
            page.wait_for_timeout(800)

        add_form("loanhub")
        dialog = page.get_by_role("dialog")
        box, listed = dialog.bounding_box(), page.get_by_role("listbox").bounding_box()
        assert box
        assert listed
        bottom = max(box["y"] + box["height"], listed["y"] + listed["height"] + 12)
        clip = {"x": box["x"], "y": box["y"], "width": box["width"], "height": bottom - box["y"]}
        page.screenshot(path=shots / "0-types.png", clip=clip)
        for i, kind in enumerate(FORMS, start=1):
            add_form(kind)
            page.get_by_role("option").first.click()
            page.wait_for_timeout(800)
            page.get_by_text("Extra Fields", exact=True).click()  # standard ones open already
            page.wait_for_timeout(500)
            dialog.screenshot(path=shots / f"{i}-form.png")
        if sftp is not None:
            for name, host_key in (("pinned", sftp["host_key"]), ("wrong", _other_key(sftp))):
                answers.append(f"sftp {name}: {_test_sftp(page, base, sftp, host_key)}")
                _keep(page, tests, f"test-sftp-{name}.png")
        if bureau is not None:
            for name, password in (("right", bureau["password"]), ("wrong", "not-the-password")):
                answers.append(f"bureau {name}: {_test_soap(page, base, bureau, password)}")
                _keep(page, tests, f"test-bureau-{name}.png")
        browser.close()
    return answers


def _keep(page: Page, folder: Path | None, name: str) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=folder / name)


def _other_key(sftp: dict) -> str:
    """A public key that is not the server's: the client's own."""
    return Path(sftp["private_key"] + ".pub").read_text(encoding="utf-8").strip()


def _test_sftp(page: Page, base: str, sftp: dict, host_key: str) -> str:
    """Add an SFTP connection in the form, then press its row's "Test Connection" (the row's
    test sends the form's port, so every type shows its port: see ``_test_soap``)."""
    conn_id = f"loanhub_sftp_{int(time.time() * 1000)}"
    page.goto(base + "/connections")
    page.get_by_role("button", name="Add Connection").click()
    page.wait_for_timeout(1500)
    page.locator("input[name=connection_id]").fill(conn_id)
    page.locator("[role=combobox]").last.click(force=True)
    page.keyboard.type("SFTP exchange")
    page.get_by_role("option").first.click()
    page.wait_for_timeout(800)
    page.locator("input[name=host]").fill(sftp["host"])
    page.locator("input[name=login]").fill(sftp["username"])
    page.locator("input[name=port]").fill(str(sftp["port"]))
    page.get_by_text("Extra Fields", exact=True).click()
    page.locator("#element_host_key").fill(host_key)
    page.locator("#element_private_key_path").fill(sftp["private_key"])
    page.get_by_role("button", name="Save").click()
    page.wait_for_timeout(2000)
    return _save_and_test(page, conn_id)


def _test_soap(page: Page, base: str, bureau: dict, password: str) -> str:
    """Add a bureau connection (``loanhub_soap``) in the form, port = the URL's, then press its
    row's "Test Connection"."""
    conn_id = f"loanhub_bureau_{int(time.time() * 1000)}"
    page.goto(base + "/connections")
    page.get_by_role("button", name="Add Connection").click()
    page.wait_for_timeout(1500)
    page.locator("input[name=connection_id]").fill(conn_id)
    page.locator("[role=combobox]").last.click(force=True)
    page.keyboard.type("SOAP service")
    page.get_by_role("option").first.click()
    page.wait_for_timeout(800)
    page.locator("input[name=host]").fill(bureau["url"])
    page.locator("input[name=port]").fill(str(urlsplit(bureau["url"]).port))
    page.locator("input[name=login]").fill(bureau["username"])
    page.locator("input[name=password]").fill(password)
    page.get_by_text("Extra Fields", exact=True).click()
    page.locator("#element_wsdl").fill(bureau["wsdl"])
    return _save_and_test(page, conn_id)


def _save_and_test(page: Page, conn_id: str) -> str:
    """Save (the form may have been submitted already: its Save is then gone), then press the
    row's "Test Connection" and read its toast (not the "Create Connection" one)."""
    page.wait_for_timeout(1000)
    save = page.get_by_role("button", name="Save")
    if save.count():
        save.click()
    page.wait_for_timeout(2000)
    row = page.get_by_role("row").filter(has_text=conn_id)
    row.get_by_role("button", name="Test Connection").click()
    toast = (
        page.locator("[data-scope=toast][data-part=root]")
        .filter(has_not_text="Create Connection")
        .first
    )
    toast.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    return toast.inner_text()


def side_by_side(shots: Path, out: Path) -> None:
    """One picture of the list and the forms, laid out by the browser (no imaging library)."""
    from playwright.sync_api import sync_playwright

    images = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        for p in sorted(shots.glob("*.png"))
    )
    html = (
        "<html><body style='margin:0;background:#e8eaef;font-family:sans-serif'>"
        "<div id='all' style='display:flex;flex-wrap:wrap;gap:12px;padding:12px;"
        f"align-items:flex-start;width:2070px'>{images}</div></body></html>"
    )
    page_file = shots / "all.html"
    page_file.write_text(html.replace("<img ", "<img style='width:680px' "))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 2080, "height": 800})
        page.goto(page_file.as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        page.locator("#all").screenshot(path=out)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--sim-dir", type=Path, help="the running simulators' data directory")
    args.add_argument("--out", type=Path, default=OUT)
    args.add_argument("--test-shots", type=Path, help="where to save each Test answer's page")
    opts = args.parse_args(argv)
    sftp = bureau = None
    if opts.sim_dir:
        endpoints = json.loads((opts.sim_dir / "endpoints.json").read_text())
        sftp, bureau = endpoints["sftp"], endpoints["bureau"]
    with tempfile.TemporaryDirectory(prefix="loanhub-form-") as tmp:
        home, port = Path(tmp), free_port()
        proc, _ = start_api_server(home, port)
        try:
            shots = home / "shots"
            shots.mkdir()
            answers = photograph(f"http://127.0.0.1:{port}", shots, sftp, bureau, opts.test_shots)
        finally:
            stop(proc)
        side_by_side(shots, opts.out)
    print(f"wrote {opts.out}")
    for answer in answers:
        print("Test Connection:", " ".join(answer.split()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
