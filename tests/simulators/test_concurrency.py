"""The simulators journal how many clients each system served at once: a browser session is
one client however many frames it loads together; a request without cookies is its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests


def test_concurrency_peaks_are_journaled_per_client(sim, sim_endpoints):
    portal = sim_endpoints["ss_portal"]["url"]
    sim.controls({"ss": {"*": {"latency": 0.6}}})

    def fetch(cookie: str | None) -> int:
        headers = {"Cookie": cookie} if cookie else {}
        return requests.get(portal, headers=headers, allow_redirects=False, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fetch, ["session=one"] * 4))  # one person, four frames at once
    assert [e["value"] for e in sim.journal("ss", "concurrency")] == [1]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fetch, [None] * 4))  # four clients
    peaks = [e["value"] for e in sim.journal("ss", "concurrency")]
    assert max(peaks) == 4
    assert peaks == sorted(peaks)  # only new peaks are journaled
    sim.clear_journal()
    fetch(None)
    assert [e["value"] for e in sim.journal("ss", "concurrency")] == [1]  # counted afresh
