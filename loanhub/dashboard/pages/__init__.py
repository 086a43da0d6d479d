"""The dashboard's routes, one ``APIRouter`` per page (and one for logging in, one for the
machines: health and metrics); ``loanhub.dashboard.app`` includes them all."""

from __future__ import annotations

from fastapi import APIRouter

from loanhub.dashboard.pages import (
    approvals,
    case,
    evidence,
    files,
    items,
    language,
    login,
    metrics,
    overview,
    queues,
    sources,
    warnings,
)

ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    language.router,
    metrics.router,
    overview.router,
    sources.router,
    queues.router,
    approvals.router,
    warnings.router,
    files.router,
    evidence.router,
    items.router,
    case.router,
)
