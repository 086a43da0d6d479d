"""The simulators' admin endpoint (loopback HTTP, JSON): controls, journals, extracts, dataset.

GET    /admin/health              ok when every worker runs; dataset digest, uptime
GET    /admin/controls            PATCH merges a (validated) patch; POST /admin/controls/reset
GET    /admin/journal?system=&kind=      DELETE clears it
POST   /admin/extract             {"business_date", "corrupt", "trailer"}: write LNREPAY
POST   /admin/tax/redeliver       {"request": "TAXQ_..."}: its answer again, whole
POST   /admin/unlock              {"system": "ss"|"los", "user"}: unlock a locked account
GET    /admin/dataset             the whole seeded dataset (canonical JSON)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from simulators import extract
from simulators.controls import Controls
from simulators.dataset import Dataset
from simulators.gateway import PaymentGateway
from simulators.journal import Journal
from simulators.tax import TaxAuthority
from simulators.web import LegacyWebApp

StartResponse = Callable[..., Any]


class Admin:
    def __init__(
        self,
        dataset: Dataset,
        controls: Controls,
        journal: Journal,
        sftp_root: Path,
        web_apps: dict[str, LegacyWebApp] | None = None,
    ) -> None:
        self.web_apps = web_apps or {}
        self.tax: TaxAuthority | None = None  # set once the authority runs
        self.gateway: PaymentGateway | None = None  # its payments are the core's new loans
        self.workers: dict[str, Callable[[], bool]] = {}  # name -> is it still running
        self.data = dataset
        self.controls = controls
        self.journal = journal
        self.sftp_root = sftp_root
        self.started = time.time()
        self.digest = dataset.digest()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        size = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(size) or b"{}") if size else {}
            status, payload = self.route(method, path.removeprefix("/admin"), query, body)
        except (ValueError, KeyError, TypeError) as exc:
            status, payload = "400 Bad Request", {"error": str(exc)}
        raw = (
            payload
            if isinstance(payload, bytes)
            else json.dumps(payload, ensure_ascii=False, default=str).encode()
        )
        start_response(
            status,
            [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(raw))),
            ],
        )
        return [raw]

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[str, Any]:
        ok = "200 OK"
        if path == "/health":
            alive = {name: check() for name, check in self.workers.items()}
            return ok, {
                "ok": all(alive.values()),
                "workers": alive,
                "dataset": self.digest,
                "uptime": round(time.time() - self.started, 1),
            }
        if path == "/controls" and method == "GET":
            return ok, self.controls.snapshot()
        if path == "/controls" and method == "PATCH":
            return ok, self.controls.update(body)
        if path == "/controls/reset" and method == "POST":
            self.controls.reset()
            return ok, self.controls.snapshot()
        if path == "/journal" and method == "GET":
            return ok, self.journal.entries(query.get("system"), query.get("kind"))
        if path == "/journal" and method == "DELETE":
            self.journal.clear()
            return ok, {"cleared": True}
        if path == "/extract" and method == "POST":
            return ok, self.write_extract(body)
        if path == "/unlock" and method == "POST":  # what the system administrator does
            self.web_apps[body["system"]].unlock(body["user"])
            return ok, {"unlocked": body["user"]}
        if path == "/tax/redeliver" and method == "POST" and self.tax is not None:
            return ok, {"file": self.tax.redeliver(body["request"])}
        if path == "/dataset":
            return ok, self.data.canonical_bytes()
        return "404 Not Found", {"error": f"no route {method} {path}"}

    def write_extract(self, body: dict[str, Any]) -> dict[str, Any]:
        """Write LNREPAY for a business date; quirks from the request or else the controls."""
        day = date.fromisoformat(body.get("business_date") or self.data.business_date.isoformat())
        corrupt = int(body.get("corrupt", self.controls.get("extract", "nightly", "corrupt", 0)))
        trailer = body.get("trailer", self.controls.get("extract", "nightly", "trailer"))
        booked = self.gateway.booked_loans(day) if self.gateway is not None else []
        items = extract.details(self.data, day, booked)
        target = extract.write_extract(
            self.sftp_root / "extracts",
            day,
            items,
            seed=int(body.get("seed", 0)),
            corrupt=corrupt,
            trailer=trailer,
        )
        data = target.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        self.journal.record(
            "core",
            "extract",
            file=target.name,
            records=len(items),
            corrupt=corrupt,
            trailer=trailer,
            sha256=digest,
        )
        return {
            "file": f"/extracts/{target.name}",
            "records": len(items),
            "bytes": len(data),
            "sha256": digest,
        }
