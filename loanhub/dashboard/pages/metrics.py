"""The routes for machines: ``/health`` for the compose healthcheck and ``/metrics`` for
Prometheus (``loanhub.dashboard.metrics`` computes the numbers)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from loanhub.dashboard.auth import same_secret
from loanhub.dashboard.deps import Board, Store
from loanhub.dashboard.metrics import exposition

router = APIRouter()


async def scraper_or_person(request: Request, board: Board) -> None:
    """Prometheus scrapes with the bearer token; a logged-in person may look too. Without a
    configured token anyone may scrape (the compose network is the fence then)."""
    token = board.settings.dashboard.metrics_token
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    allowed = token is None or (sent and same_secret(sent, token.get_secret_value()))
    if not allowed and await board.identity.signed_in(request) is None:
        raise HTTPException(401, "bearer token required", {"WWW-Authenticate": "Bearer"})


@router.get("/health")
def health() -> dict[str, str]:
    """For the compose healthcheck: the process answers (no data, no login)."""
    return {"status": "ok"}


@router.get("/metrics", dependencies=[Depends(scraper_or_person)])
def metrics(store: Store) -> Response:
    return Response(exposition(store), media_type="text/plain; version=0.0.4")
