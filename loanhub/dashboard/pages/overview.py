"""``/``: today's DAG runs from Airflow's metadata DB (failures listed), beside what waits for
a person and the open warnings, from the store."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import SQLAlchemyError

from loanhub.dashboard import charts, figures
from loanhub.dashboard.deps import Board, Render, Store
from loanhub.dashboard.i18n import N_
from schemas.types import utcnow

router = APIRouter()


def today_start(zone: ZoneInfo) -> datetime:
    """Midnight in the hub's time zone: "today" as the people reading the page mean it."""
    local = utcnow().astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@router.get("/", response_class=HTMLResponse)
def overview(render: Render, board: Board, store: Store) -> HTMLResponse:
    since = today_start(board.zone)
    runs: list[figures.RunCounts] = []
    failed: list[figures.FailedRun] = []
    problem: str = ""
    if board.airflow is None:
        problem = N_(
            "Airflow's metadata DB is not configured (%(setting)s).",
            setting="LOANHUB_AIRFLOW_DB_URL",
        )
    else:
        try:
            runs = figures.runs_since(board.airflow, since)
            failed = figures.failed_runs(board.airflow, since)
        except SQLAlchemyError as exc:
            problem = N_(
                "Airflow's metadata DB did not answer: %(error)s", error=type(exc).__name__
            )
    queues = figures.queues(store, limit=0)
    open_warnings = figures.warnings(store)
    chart = charts.stacked(
        N_("Runs today by DAG and state"),
        [(r.dag_id, r.states) for r in runs],
        figures.RUN_STATES,
    )
    return render(
        "overview.html",
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
