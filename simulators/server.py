"""Runs every protocol-facing simulator in one process and writes the endpoints file.

HTTP (waitress, one port): the bureau's and the core's SOAP services and the admin endpoint.
SFTP (asyncssh): the exchange root that the tax authority, the core's extract job and the
payment gateway work on. SMTP (aiosmtpd). The endpoints file names every URL, port, credential
and the SFTP host key fingerprint, for the tests and development tools (and the hub's
development fallback); beside it, ``connections.json`` and ``airflow.env`` give the hub's
credentials to Airflow (simulators/connections.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from waitress.server import create_server

from simulators import connections
from simulators.admin import Admin
from simulators.bureau import Bureau
from simulators.controls import Controls
from simulators.core_banking import CoreBanking
from simulators.dataset import generate
from simulators.extract import extract_name
from simulators.gateway import PaymentGateway
from simulators.journal import Journal
from simulators.los import LoanOrigination
from simulators.sftp_server import start_sftp
from simulators.smtp import start_smtp
from simulators.ss_portal import SocialSecurityPortal
from simulators.tax import TaxAuthority

log = logging.getLogger("simulators")
ENDPOINTS = "endpoints.json"
HTTP_THREADS = 96  # each waits out its latency asleep: cheap


@dataclass(frozen=True)
class SimConfig:
    data_dir: Path
    seed: int = 20261124
    persons: int = 200
    enterprises: int = 40
    host: str = "127.0.0.1"
    http_port: int = 0
    sftp_port: int = 0
    smtp_port: int = 0
    advertise: str | None = None  # the name others reach them by (a compose service name)


def credentials(data_dir: Path) -> dict[str, Any]:
    """Per data directory, generated once: the hub's users at every system (and the LOS's
    second approver, whom tests play)."""
    path = data_dir / "credentials.json"
    creds: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for system in ("bureau", "core"):
        creds.setdefault(system, {"username": "loanhub", "password": secrets.token_urlsafe(12)})
    creds.setdefault(
        "ss",
        {
            "username": "LHB001CX",
            "password": secrets.token_urlsafe(10),
            "totp_secret": base64.b32encode(secrets.token_bytes(20)).decode(),
        },
    )
    creds.setdefault(
        "los",
        {
            "users": [
                {
                    "username": "loanhub_bot",
                    "password": secrets.token_urlsafe(10),
                    "limit": "500000",
                },
                {
                    "username": "checker_wang",
                    "password": secrets.token_urlsafe(10),
                    "limit": "5000000",
                },
            ]
        },
    )
    path.write_text(json.dumps(creds, indent=2))
    os.chmod(path, 0o600)
    return creds


class Router:
    """WSGI dispatch by path prefix; journals how many clients each system served at once.

    A client is a browser session (its cookies: a frameset's frames load together but are one
    person) or, without cookies, a single request (a SOAP call). Each new peak is journaled as
    ``(system, "concurrency", value=n)``, so a test can check that the hub never exceeded a
    system's pool.
    """

    def __init__(
        self, apps: dict[str, Callable[..., Iterable[bytes]]], journal: Journal | None = None
    ) -> None:
        self.apps = apps
        self.journal = journal
        self._lock = threading.Lock()
        self._in_flight: dict[str, dict[str, int]] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.apps.items():
            if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
                if self.journal is None or prefix == "/admin":
                    return app(environ, start_response)
                client = environ.get("HTTP_COOKIE") or f"request:{id(environ)}"
                self._enter(prefix, client)
                try:
                    return app(environ, start_response)
                finally:
                    self._leave(prefix, client)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    def _enter(self, prefix: str, client: str) -> None:
        with self._lock:
            clients = self._in_flight.setdefault(prefix, {})
            clients[client] = clients.get(client, 0) + 1
            at_once = len(clients)
        assert self.journal is not None
        self.journal.peak(prefix.strip("/"), "concurrency", at_once)

    def _leave(self, prefix: str, client: str) -> None:
        with self._lock:
            clients = self._in_flight[prefix]
            clients[client] -= 1
            if not clients[client]:
                del clients[client]


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("worker %s died", task.get_name(), exc_info=task.exception())


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    os.chmod(temp, 0o600)
    temp.replace(path)


async def serve(cfg: SimConfig) -> None:
    data_dir = cfg.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = credentials(data_dir)
    dataset = generate(cfg.seed, cfg.persons, cfg.enterprises)
    controls = Controls(data_dir / "controls.json", seed=cfg.seed)
    journal = Journal(data_dir / "journal")
    root = data_dir / "sftp"
    users = {s: {creds[s]["username"]: creds[s]["password"]} for s in ("bureau", "core")}
    bureau = Bureau(dataset, users["bureau"], controls, journal)
    core = CoreBanking(dataset, users["core"], controls, journal)
    portal = SocialSecurityPortal(dataset, controls, journal, **creds["ss"])
    los = LoanOrigination(dataset, controls, journal, creds["los"]["users"])
    sftp, sftp_info = await start_sftp(
        root, data_dir / "keys", "loanhub", controls, journal, cfg.host, cfg.sftp_port
    )
    admin = Admin(dataset, controls, journal, root, {"ss": portal, "los": los})
    http = create_server(
        Router(
            {
                "/bureau": bureau.service,
                "/core": core.service,
                "/ss": portal,
                "/los": los,
                "/admin": admin,
            },
            journal,
        ),
        host=cfg.host,
        port=cfg.http_port,
        # the systems are separate machines in a bank: one system's slow pages must not queue
        # another's calls, so there are threads enough for every pool of the hub at once
        threads=HTTP_THREADS,
        ident="legacy",
    )
    threading.Thread(target=http.run, name="http", daemon=True).start()
    smtp, smtp_info = await start_smtp(journal, cfg.host, cfg.smtp_port, controls)
    tax = TaxAuthority(root, dataset, controls, journal)
    admin.tax = tax
    gateway = PaymentGateway(root, dataset, controls, journal, data_dir / "gateway_state.json")
    admin.gateway = gateway
    workers = [
        asyncio.create_task(tax.run(), name="tax"),
        asyncio.create_task(gateway.run(), name="gateway"),
    ]
    admin.workers = {t.get_name(): (lambda t=t: not t.done()) for t in workers}
    if not (root / "extracts" / extract_name(dataset.business_date)).exists():
        admin.write_extract({})  # the core's nightly job has run for the business date
    for worker in workers:
        worker.add_done_callback(_report_crash)
    public = cfg.advertise or cfg.host
    robot, checker = creds["los"]["users"]
    base = f"http://{public}:{http.effective_port}"
    sftp_info = {**sftp_info, "host": public}
    smtp_info = {**smtp_info, "host": public}
    endpoints = {
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(),
        "seed": cfg.seed,
        "persons": cfg.persons,
        "enterprises": cfg.enterprises,
        "dataset_sha256": admin.digest,
        "business_date": dataset.business_date.isoformat(),
        "bureau": {"url": f"{base}/bureau", "wsdl": f"{base}/bureau?wsdl", **creds["bureau"]},
        "core": {"url": f"{base}/core", "wsdl": f"{base}/core?wsdl", **creds["core"]},
        "sftp": sftp_info,
        "smtp": smtp_info,
        "admin": {"url": f"{base}/admin"},
        "ss_portal": {"url": f"{base}/ss/", **creds["ss"]},
        # the hub's robot; its checker (a person) is for the development tools only
        "los": {"url": f"{base}/los/", **robot, "checker": checker},
        "data_dir": str(data_dir),
    }
    # what Airflow reads (the hub's only credentials), before the endpoints file that says "up"
    connections.write(data_dir, endpoints)
    write_atomically(data_dir / ENDPOINTS, endpoints)  # it holds credentials: owner only
    log.info("simulators up: %s", data_dir / ENDPOINTS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for task in workers:
        task.cancel()
    sftp.close()
    smtp.close()
    http.close()
    (data_dir / ENDPOINTS).unlink(missing_ok=True)
    connections.remove(data_dir)
