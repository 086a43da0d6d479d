"""The LOS's list of applications waiting for a decision, taken into the hub's store: what a
bank's daily intake does, read here from the simulated LOS (its admin endpoint serves the
seeded applications) for the demo and for `make up`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import requests
from sqlalchemy import Engine

from devtools.synthetic import los_intake
from loanhub.flows.intake import IntakeSummary, load_applicants
from loanhub.runtime.settings import HubSettings


def take_waiting(
    settings: HubSettings, engine: Engine, count: int
) -> tuple[list[str], IntakeSummary]:
    """The first ``count`` waiting applications into the store (once: a second take loads
    nothing new); returns their numbers and what the intake did."""
    return _take(engine, _waiting(settings)[:count])


def take_companies(
    settings: HubSettings, engine: Engine, count: int
) -> tuple[list[str], IntakeSummary]:
    """The first ``count`` companies' applications waiting (the LOS lists them after the
    persons'), with their guarantors, into the store; as ``take_waiting``."""
    companies = [a for a in _waiting(settings) if a.get("applicant_kind") == "ENTERPRISE"]
    return _take(engine, companies[:count])


def _waiting(settings: HubSettings) -> list[dict]:
    endpoints = json.loads((settings.simulators_dir / "endpoints.json").read_text())
    dataset = requests.get(f"{endpoints['admin']['url']}/dataset", timeout=60).json()
    return dataset["applications"]


def _take(engine: Engine, waiting: list[dict]) -> tuple[list[str], IntakeSummary]:
    intake = load_applicants(
        engine, los_intake(waiting, datetime.now(UTC)), source_ref="los-daily-list"
    )
    return [a["application_no"] for a in waiting], intake
