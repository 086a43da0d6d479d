"""Screen bots: what reusing one browser buys, and how close a lookup gets to the portal's own
page latency.

- ``bot_lookups_vs_browser_per_lookup``: 50 contribution-history lookups by one
  ``SocialSecurityBot`` (one Chromium, one logged-in context, reused; launch and login
  included) vs the same lookups each with a fresh Chromium, context and login (what a script
  that "just opens a browser" does). Zero portal latency, so the browser cost is what shows.
  Goal >= 4.
- ``bot_lookups_vs_latency_bound``: the same 50 lookups with the portal at a fixed page
  latency L vs the bound that latency sets: each lookup needs at least two pages (the result
  page of the search, the 导出 file), so 50 lookups cannot take less than 100 L. Login is
  charged to us, not to the bound. Goal >= 0.8.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import requests

from bench.common import Result, simulators_running
from bots.browser import Chromium
from bots.config import PortalLogin
from bots.evidence import ScreenEvidence
from bots.ss.bot import SocialSecurityBot
from loanhub.platform.masking import mask_text
from simulators.dataset import generate

LOOKUPS = 50
LATENCY = 1.0  # seconds a portal page takes: the fastest the catalogue allows (1-3 s)
PAGES_PER_LOOKUP = 2  # the search's result page and the export


def _people(endpoints: dict) -> list[tuple[str, str]]:
    data = generate(endpoints["seed"], endpoints["persons"], endpoints["enterprises"])
    found = [(p.id_number, p.name) for p in data.persons if p.contributions]
    return [found[i % len(found)] for i in range(LOOKUPS)]


def _lookups(endpoints: dict, evidence: ScreenEvidence, people: list[tuple[str, str]]) -> float:
    """Seconds for the lookups by one bot in one browser, launch and login included."""
    start = time.perf_counter()
    with Chromium() as chromium:
        bot = SocialSecurityBot(
            PortalLogin(**endpoints["ss_portal"]), chromium, evidence, mask_text
        )
        for id_number, name in people:
            assert bot.fetch_history(id_number, name).found
    return time.perf_counter() - start


def _browser_per_lookup(
    endpoints: dict, evidence: ScreenEvidence, people: list[tuple[str, str]]
) -> float:
    start = time.perf_counter()
    for id_number, name in people:
        with Chromium() as chromium:
            bot = SocialSecurityBot(
                PortalLogin(**endpoints["ss_portal"]), chromium, evidence, mask_text
            )
            assert bot.fetch_history(id_number, name).found
    return time.perf_counter() - start


def _controls(endpoints: dict, latency: float) -> None:
    requests.patch(
        endpoints["admin"]["url"] + "/controls",
        json={"ss": {"*": {"latency": latency, "rate": 0.0, "notice_rate": 0.0}}},
        timeout=10,
    ).raise_for_status()


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, simulators_running(Path(tmp) / "sim") as endpoints:
        evidence = ScreenEvidence(Path(tmp) / "screens", mask_text)
        people = _people(endpoints)
        _controls(endpoints, 0)
        reused = _lookups(endpoints, evidence, people)
        fresh = _browser_per_lookup(endpoints, evidence, people)
        _controls(endpoints, LATENCY)
        slow = _lookups(endpoints, evidence, people)
    bound = LOOKUPS * PAGES_PER_LOOKUP * LATENCY
    return [
        Result(
            "bot_lookups_vs_browser_per_lookup",
            LOOKUPS / reused,
            LOOKUPS / fresh,
            "lookups/s",
            f"a fresh Chromium, context and login per lookup ({LOOKUPS} lookups, 0 s pages)",
            goal=4,
        ),
        Result(
            "bot_lookups_vs_latency_bound",
            LOOKUPS / slow,
            LOOKUPS / bound,
            "lookups/s",
            f"{PAGES_PER_LOOKUP} pages per lookup at {LATENCY} s a page",
            goal=0.8,
        ),
    ]
