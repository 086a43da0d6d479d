"""``/warnings``: the open early warnings by rule, severity and five-tier class; an operator
acknowledges one here (and the audit trail says who)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loanhub.dashboard import charts, figures
from loanhub.dashboard.deps import CheckedForm, Line, Operator, Render, Settings, Store
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.state import base_path
from loanhub.flows import warnings
from loanhub.flows.casefile import lookup

router = APIRouter()


@router.get("/warnings", response_class=HTMLResponse)
def warnings_page(render: Render, store: Store, settings: Settings) -> HTMLResponse:
    found = figures.warnings(store)
    by = {a: found.count_by(a) for a in ("rule", "severity", "risk_class")}
    classes = [c for c in settings.warnings.risk_classes if by["risk_class"][c]]
    return render(
        "warnings.html",
        active="warnings",
        found=found,
        cases=lookup.applications_of_loans(store, {w.loan_account for w in found.open}),
        by=by,
        rule_chart=charts.hbar(N_("Open warnings by rule"), by["rule"].most_common()),
        severity_chart=charts.hbar(
            N_("Open warnings by severity"),
            [(s, by["severity"][s]) for s in ("HIGH", "WATCH", "INFO") if by["severity"][s]],
        ),
        class_chart=charts.hbar(
            N_("Open warnings by five-tier class"),
            [(c, by["risk_class"][c]) for c in classes]
            + [(c, n) for c, n in by["risk_class"].items() if c not in classes],
        ),
    )


@router.post("/warnings/acknowledge")
def acknowledge(
    request: Request,
    who: Operator,
    csrf: CheckedForm,
    store: Store,
    warning_key: Annotated[Line, Form(max_length=200)],
) -> Response:
    """Acknowledge once: a second click (or a stale page) changes and audits nothing."""
    warnings.acknowledge(store, warning_key, actor=who.actor)  # audited in it
    return RedirectResponse(f"{base_path(request)}/warnings", 303)
