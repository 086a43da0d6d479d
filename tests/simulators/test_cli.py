"""Starting and stopping the simulators the way a person does: ``loanhub sim ...``."""

import json
import subprocess
import sys

from loanhub.runtime.settings import HubSettings


def loanhub(*args: str, env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loanhub.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_sim_up_status_down_and_the_hub_reads_the_endpoints(tmp_path, monkeypatch):
    import os

    env = {**os.environ, "LOANHUB_DATA_DIR": str(tmp_path)}
    try:
        up = loanhub("sim", "up", "--persons", "20", "--enterprises", "5", env=env)
        assert up.returncode == 0, up.stderr
        again = loanhub("sim", "up", env=env)
        assert "already running" in again.stdout
        status = loanhub("sim", "status", env=env)
        assert status.returncode == 0
        assert "sftp" in status.stdout
        assert "SHA256:" in status.stdout
        monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
        endpoints = HubSettings().legacy_endpoints()
        assert endpoints.bureau.url.endswith("/bureau")
        assert endpoints.sftp.host_key_fingerprint.startswith("SHA256:")
        assert endpoints.sftp.private_key.exists()
        assert endpoints.bureau.password.get_secret_value() not in repr(endpoints)
        assert endpoints.ss_portal.url.endswith("/ss/")
        assert len(endpoints.ss_portal.totp_secret.get_secret_value()) == 32
        assert endpoints.los.username == "loanhub_bot"  # the robot only: no checker
        written = json.loads((tmp_path / "sim" / "endpoints.json").read_text())
        checker = written["los"]["checker"]
        assert checker["password"] not in endpoints.model_dump_json()
    finally:
        down = loanhub("sim", "down", env=env)
    assert down.returncode == 0
    assert loanhub("sim", "status", env=env).returncode == 1
