"""The dashboard's web app: FastAPI, pages rendered on the server (Jinja2 + inline SVG).

Runs on its own (``loanhub dashboard``) or inside Airflow's API server as a plugin's
``fastapi_apps`` entry (``dags/support/plugin.py``); links are built from the mount point, so
both work unchanged. Every page needs a login (``auth``); everything rendered passes through
``mask_text`` on its way into the HTML, charts included, so no template can leak an ID.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta
from functools import cached_property
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kernel.calls import CallOutcome
from loanhub.dashboard import charts, evidence, figures
from loanhub.dashboard.auth import Role, User, UserBook, session_secret
from loanhub.dashboard.metrics import exposition
from loanhub.flows import warnings
from loanhub.platform import audit
from loanhub.platform.db import open_store
from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings
from schemas.types import utcnow

COOKIE = "loanhub_session"
SESSION_SECONDS = 8 * 3600
PAGES = (
    ("overview", "Overview", ""),
    ("sources", "Sources", "/sources"),
    ("queues", "Queues", "/queues"),
    ("approvals", "Approvals", "/approvals"),
    ("warnings", "Warnings", "/warnings"),
    ("files", "Files", "/files"),
)


def _masked(value: Any) -> Any:
    """Jinja's finalize: every value printed into a page is masked, markup (charts) too."""
    if isinstance(value, charts.Svg):
        return charts.Svg(mask_text(value))
    if isinstance(value, str):
        return mask_text(value)
    return value


class LoginRequired(Exception):
    pass


class Dashboard:
    """What the routes share: settings, engines (made on first use, not at import), users."""

    def __init__(self, settings: HubSettings, airflow_db_url: str | None) -> None:
        self.settings = settings
        self.airflow_db_url = airflow_db_url
        self.users = UserBook(settings.dashboard_users_path)
        self.zone = ZoneInfo(settings.timezone)
        self.templates = Environment(
            loader=PackageLoader("loanhub.dashboard", "templates"),
            autoescape=select_autoescape(default=True),
            finalize=_masked,
        )
        self.templates.filters.update(when=self.when, pct=_pct, hours=_hours, ms=_ms, ago=_ago)

    @cached_property
    def engine(self) -> Engine:
        return open_store(self.settings.store_url)

    @cached_property
    def airflow(self) -> Engine | None:
        return figures.airflow_engine(self.airflow_db_url) if self.airflow_db_url else None

    @cached_property
    def signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(session_secret(self.settings), salt="loanhub-dashboard")

    def when(self, value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def today_start(self) -> datetime:
        local = utcnow().astimezone(self.zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    # -- sessions ------------------------------------------------------------------------------

    def session(self, request: Request) -> dict[str, str]:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return {}
        try:
            return self.signer.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            return {}

    def user(self, request: Request) -> User | None:
        """The session's user, as the users file has them now (a removed user is logged out,
        a changed role applies at once)."""
        name = self.session(request).get("user")
        role = self.users.names().get(name) if name else None
        return User(name, role) if name and role else None

    def set_session(self, response: Response, request: Request, data: dict[str, str]) -> None:
        response.set_cookie(
            COOKIE,
            self.signer.dumps(data),
            max_age=SESSION_SECONDS,
            path=_base(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def render(self, request: Request, template: str, user: User | None, **values: Any) -> str:
        page = self.templates.get_template(template)
        return page.render(
            base=_base(request),
            user=user,
            pages=PAGES,
            csrf=self.session(request).get("csrf", ""),
            zone=self.settings.timezone,
            **values,
        )


def viewer(request: Request) -> User:
    """Any logged-in user; anonymous requests are sent to the login page."""
    user = request.app.state.dashboard.user(request)
    if user is None:
        raise LoginRequired
    return user


def operator(user: Annotated[User, Depends(viewer)]) -> User:
    if not user.role.allows(Role.OPERATOR):
        raise HTTPException(403, "operators only")
    return user


Viewer = Annotated[User, Depends(viewer)]
Operator = Annotated[User, Depends(operator)]


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 60:.0f} min" if value < 1 else f"{value:.1f} h"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _ago(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    seconds = max(delta.total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def create_app(
    settings: HubSettings | None = None, *, airflow_db_url: str | None = None
) -> FastAPI:
    """The dashboard app. Nothing is opened here (no DB, no file): the first request does."""
    settings = settings or HubSettings()
    board = Dashboard(settings, airflow_db_url or settings.airflow_db_url)
    app = FastAPI(title="loanhub dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = board

    @app.exception_handler(LoginRequired)
    def to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        wanted = request.url.path
        return RedirectResponse(f"{_base(request)}/login?next={quote(wanted)}", status_code=303)

    def checked(request: Request, csrf: str) -> None:
        expected = board.session(request).get("csrf", "")
        if not expected or not secrets.compare_digest(expected, csrf):
            raise HTTPException(403, "the form is stale: reload the page")

    def page(template: str, user: User, request: Request, **values: Any) -> HTMLResponse:
        return HTMLResponse(board.render(request, template, user, **values))

    # -- login ---------------------------------------------------------------------------------

    def login_page(
        request: Request, wanted: str, csrf: str, error: str = "", status: int = 200
    ) -> HTMLResponse:
        body = board.templates.get_template("login.html").render(
            base=_base(request), next=_local(request, wanted), csrf=csrf, error=error
        )
        return HTMLResponse(body, status_code=status)

    @app.get("/login", response_class=HTMLResponse, name="login")
    def login_form(request: Request, next: str = "") -> HTMLResponse:
        session = board.session(request)
        if "csrf" not in session:
            session = {"csrf": secrets.token_urlsafe(24)}
        response = login_page(request, next, session["csrf"])
        board.set_session(response, request, session)
        return response

    @app.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "",
    ) -> Response:
        checked(request, csrf)
        user = board.users.check(username, password)
        if user is None:
            time.sleep(0.5)  # a guess costs time
            return login_page(request, next, csrf, "Unknown user or wrong password.", 401)
        response = RedirectResponse(_local(request, next) or f"{_base(request)}/", 303)
        board.set_session(response, request, {"user": user.name, "csrf": secrets.token_urlsafe(24)})
        return response

    @app.post("/logout")
    def logout(request: Request, user: Viewer, csrf: Annotated[str, Form()] = "") -> Response:
        checked(request, csrf)
        response = RedirectResponse(f"{_base(request)}/login", 303)
        response.delete_cookie(COOKIE, path=_base(request) or "/")
        return response

    @app.get("/health")
    def health() -> dict[str, str]:
        """For the compose healthcheck: the process answers (no data, no login)."""
        return {"status": "ok"}

    # -- pages ---------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request, user: Viewer) -> HTMLResponse:
        since = board.today_start()
        runs, failed, problem = [], [], ""
        if board.airflow is None:
            problem = "Airflow's metadata DB is not configured (LOANHUB_AIRFLOW_DB_URL)."
        else:
            try:
                runs = figures.runs_since(board.airflow, since)
                failed = figures.failed_runs(board.airflow, since)
            except SQLAlchemyError as exc:
                problem = f"Airflow's metadata DB did not answer: {type(exc).__name__}"
        queues = figures.queues(board.engine, limit=0)
        open_warnings = figures.warnings(board.engine)
        chart = charts.stacked(
            "Runs today by DAG and state",
            [(r.dag_id, r.states) for r in runs],
            figures.RUN_STATES,
        )
        return page(
            "overview.html",
            user,
            request,
            active="overview",
            since=since,
            runs=runs,
            failed=failed,
            problem=problem,
            states=figures.RUN_STATES,
            chart=chart,
            stuck=queues.total("NEEDS_HUMAN") + queues.total("IN_DOUBT"),
            open_warnings=len(open_warnings.open),
        )

    @app.get("/sources", response_class=HTMLResponse)
    def sources(request: Request, user: Viewer, hours: int = 24) -> HTMLResponse:
        hours = min(max(hours, 1), 24 * 90)
        now = utcnow()
        health = figures.sources(board.engine, now - timedelta(hours=hours))
        return page(
            "sources.html",
            user,
            request,
            active="sources",
            hours=hours,
            health=health,
            now=now,
            calls_chart=charts.stacked(
                f"Calls per system, last {hours} h, by outcome",
                [(h.system.title, h.by_outcome) for h in health],
                [o.value for o in CallOutcome],
            ),
            latency_chart=charts.hbar(
                f"p95 latency per system, last {hours} h (ms)",
                [(h.system.title, h.p95_ms) for h in health if h.p95_ms is not None],
                unit=" ms",
            ),
        )

    @app.get("/queues", response_class=HTMLResponse)
    def queues(request: Request, user: Viewer) -> HTMLResponse:
        found = figures.queues(board.engine)
        order = ["NEEDS_HUMAN", "IN_DOUBT", "FAILED", "IN_PROGRESS", "NEW", "DONE"]
        return page(
            "queues.html",
            user,
            request,
            active="queues",
            queues=found,
            order=order,
            chart=charts.stacked(
                "Work items by kind and state", list(found.by_kind.items()), order
            ),
        )

    @app.get("/approvals", response_class=HTMLResponse)
    def approvals(request: Request, user: Viewer, days: int = 30) -> HTMLResponse:
        days = min(max(days, 1), 366)
        found = figures.approvals(board.engine, utcnow() - timedelta(days=days))
        medians = [(name, figures.median(found.step_hours[name])) for name, _, _ in figures.STEPS]
        return page(
            "approvals.html",
            user,
            request,
            active="approvals",
            days=days,
            found=found,
            medians=medians,
            median=figures.median,
            percentile=figures.percentile,
            steps_chart=charts.hbar(
                "Median wait per step (hours)",
                [(n, round(v, 2)) for n, v in medians if v is not None],
                unit=" h",
            ),
            cycle_chart=charts.histogram("Application to decision (hours)", found.cycle_hours),
        )

    @app.get("/warnings", response_class=HTMLResponse)
    def warnings_page(request: Request, user: Viewer) -> HTMLResponse:
        found = figures.warnings(board.engine)
        by = {a: found.count_by(a) for a in ("rule", "severity", "risk_class")}
        classes = [c for c in board.settings.warnings.risk_classes if by["risk_class"][c]]
        return page(
            "warnings.html",
            user,
            request,
            active="warnings",
            found=found,
            by=by,
            rule_chart=charts.hbar("Open warnings by rule", by["rule"].most_common()),
            severity_chart=charts.hbar(
                "Open warnings by severity",
                [(s, by["severity"][s]) for s in ("HIGH", "WATCH", "INFO") if by["severity"][s]],
            ),
            class_chart=charts.hbar(
                "Open warnings by five-tier class",
                [(c, by["risk_class"][c]) for c in classes]
                + [(c, n) for c, n in by["risk_class"].items() if c not in classes],
            ),
        )

    @app.post("/warnings/acknowledge")
    def acknowledge(
        request: Request,
        user: Operator,
        warning_key: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        checked(request, csrf)
        if warnings.acknowledge(board.engine, warning_key):
            with board.engine.begin() as conn:
                audit.append(
                    conn,
                    actor=f"dashboard:{user.name}",
                    action="warning.acknowledged",
                    subject=warning_key,
                )
        return RedirectResponse(f"{_base(request)}/warnings", 303)

    @app.get("/files", response_class=HTMLResponse)
    def files_page(request: Request, user: Viewer) -> HTMLResponse:
        found = figures.files(board.engine)
        return page(
            "files.html",
            user,
            request,
            active="files",
            found=found,
            state_chart=charts.hbar("Files by state", sorted(found.by_state.items())),
            reason_chart=charts.hbar(
                "Quarantined records by field or rule",
                found.quarantine_reasons.most_common(12),
            ),
        )

    # -- evidence (operators) ------------------------------------------------------------------

    def stuck_item(item_id: int) -> figures.QueueItem:
        item = figures.queue_item(board.engine, item_id)
        if item is None:
            raise HTTPException(404, "no such work item")
        return item

    @app.get("/evidence/{item_id}", response_class=HTMLResponse)
    def evidence_page(request: Request, user: Operator, item_id: int) -> HTMLResponse:
        item = stuck_item(item_id)
        found = evidence.preview(board.settings, item.evidence)
        return page("evidence.html", user, request, active="queues", item=item, preview=found)

    @app.get("/evidence/{item_id}/screen.png")
    def evidence_screen(user: Operator, item_id: int) -> FileResponse:
        found = evidence.preview(board.settings, stuck_item(item_id).evidence)
        if found is None or found.screenshot is None:
            raise HTTPException(404, "no screenshot")
        return FileResponse(found.screenshot, media_type="image/png")

    # -- metrics -------------------------------------------------------------------------------

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        """Prometheus scrapes with the bearer token; a logged-in person may look too."""
        token = board.settings.dashboard.metrics_token
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        allowed = token is None or (sent and secrets.compare_digest(sent, token.get_secret_value()))
        if not allowed and board.user(request) is None:
            raise HTTPException(401, "bearer token required", {"WWW-Authenticate": "Bearer"})
        return Response(exposition(board.engine), media_type="text/plain; version=0.0.4")

    return app


def _local(request: Request, wanted: str) -> str:
    """``next`` only when it is a page of this dashboard (no open redirect)."""
    base = _base(request)
    if wanted.startswith(f"{base}/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return ""


__all__ = ["Dashboard", "create_app"]
