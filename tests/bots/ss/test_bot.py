"""SocialSecurityBot against the portal simulator with its faults on."""

from __future__ import annotations

import zipfile
from datetime import date

import pytest

from bots.config import PortalLogin
from bots.ss.bot import SocialSecurityBot
from kernel.failures import ContractError, NeedsHuman, TransientError
from loanhub.platform.masking import mask_text
from mappings.engine import Mapping
from tests.bots.conftest import FAST_POLICY

EXPORT_BUSY = {"/export.do": {"fault": "busy", "rate": 1.0}}


def person(sim_dataset, n: int, months: int = 21):
    """The n-th person with at least ``months`` months (three result pages or more)."""
    return [p for p in sim_dataset.persons if len(p.contributions) >= months][n]


def mapped_months(history, id_number: str) -> list[date]:
    result = Mapping.load("ss_history").map(
        history.payload,
        fetched_at=history.fetched_at,
        raw_payload_hash=history.raw_sha256,
        params={"id_number": id_number},
    )
    assert result.refused_records == 0
    return sorted(m.month for m in result.models("month"))


def expected_months(p) -> list[date]:
    return sorted(date(int(c.month[:4]), int(c.month[4:]), 1) for c in p.contributions)


def test_prefers_the_export_and_maps_the_whole_history(sim, ss_bot, sim_dataset, evidence):
    p = person(sim_dataset, 0)
    history = ss_bot.fetch_history(p.id_number, p.name)
    assert (history.found, history.source) == (True, "export")
    assert mapped_months(history, p.id_number) == expected_months(p)
    assert len(sim.journal("ss", "export")) == 1
    assert len(sim.journal("ss", "login")) == 1
    again = ss_bot.fetch_history(p.id_number, p.name)  # the same session, no second login
    assert again.raw == history.raw
    assert len(sim.journal("ss", "login")) == 1
    assert not list(evidence.root.glob("*/*/*"))  # evidence is kept on failure only


def test_falls_back_to_paging_and_closes_the_notice_on_every_page(sim, ss_bot, sim_dataset):
    p = person(sim_dataset, 1)
    sim.controls({"ss": {"*": {"notice_rate": 1.0}, **EXPORT_BUSY}})
    history = ss_bot.fetch_history(p.id_number, p.name)
    assert history.source == "pages"
    assert history.pages >= 3
    assert mapped_months(history, p.id_number) == expected_months(p)
    assert len(sim.journal("ss", "notice")) >= history.pages  # a modal on every result page


def test_session_expiry_in_the_middle_of_paging_resumes_on_that_page(sim, ss_bot, sim_dataset):
    p = person(sim_dataset, 2, months=31)  # four pages
    ss_bot.fetch_history(person(sim_dataset, 0).id_number, person(sim_dataset, 0).name)  # logged in
    sim.clear_journal()
    # query.do calls: search (1), page 2 (2), page 3 (3): the session dies on page 3
    expire = {"fault": "session_expired", "skip": 2, "times": 1}
    sim.controls({"ss": {**EXPORT_BUSY, "/query.do": expire}})
    history = ss_bot.fetch_history(p.id_number, p.name)
    assert history.source == "pages"
    assert mapped_months(history, p.id_number) == expected_months(p)  # no gap, no duplicate
    assert len(sim.journal("ss", "session_expired")) == 1
    assert [e["ok"] for e in sim.journal("ss", "login")] == [True]  # the one new login
    assert len(sim.journal("ss", "lookup")) == 2  # the search again, then straight to page 3


def test_backs_off_on_the_busy_page(sim, ss_bot, sim_dataset):
    p = person(sim_dataset, 3)
    sim.controls({"ss": {"/query.do": {"fault": "busy", "times": 2}}})
    history = ss_bot.fetch_history(p.id_number, p.name)
    assert history.source == "export"
    assert len(sim.journal("ss", "busy")) == 2


def test_a_person_the_portal_does_not_know_is_an_answer(sim, ss_bot, sim_dataset):
    p = person(sim_dataset, 0)
    history = ss_bot.fetch_history(p.id_number, "查无此人")
    assert (history.found, history.months) == (False, 0)


def test_the_layout_variant_stops_the_bot_with_masked_evidence(sim, ss_bot, sim_dataset, evidence):
    p = person(sim_dataset, 4)
    sim.controls({"ss": {"layout": {"variant": True}}})
    with pytest.raises(NeedsHuman) as stopped:
        ss_bot.fetch_history(p.id_number, p.name)
    assert stopped.value.evidence is not None
    files = {f.name for f in stopped.value.evidence.iterdir()}
    assert files == {"screen.png", "trace.zip", "reason.txt"}
    reason = (stopped.value.evidence / "reason.txt").read_text()
    assert "search form" in reason
    assert p.id_number not in reason
    assert p.id_number not in str(stopped.value.evidence)
    assert stopped.value.evidence.parent == evidence.folder("ss_history", p.id_number)
    assert sim.journal("ss", "lookup") == []  # nothing was searched on a form it did not know


def test_a_captcha_is_left_to_a_person_and_never_tried(sim, ss_bot, sim_dataset):
    p = person(sim_dataset, 0)
    sim.controls({"ss": {"/login.do": {"captcha": True}}})
    with pytest.raises(NeedsHuman, match="captcha"):
        ss_bot.fetch_history(p.id_number, p.name)
    assert sim.journal("ss", "login") == []


def test_a_locked_account_is_left_to_a_person(sim, sim_endpoints, ss_bot, sim_dataset):
    from tests.simulators.portal_pages import ss_http_login

    for _ in range(5):
        ss_http_login(sim_endpoints, password="wrong")
    sim.clear_journal()
    p = person(sim_dataset, 0)
    with pytest.raises(NeedsHuman, match="locked") as stopped:
        ss_bot.fetch_history(p.id_number, p.name)
    assert stopped.value.evidence is not None
    assert len(sim.journal("ss", "login")) == 1  # one try, not hammered


def test_a_kept_trace_never_holds_the_password(sim, sim_endpoints, ss_bot, sim_dataset):
    p = person(sim_dataset, 4)
    sim.controls({"ss": {"layout": {"variant": True}}})
    with pytest.raises(NeedsHuman) as stopped:
        ss_bot.fetch_history(p.id_number, p.name)
    trace = stopped.value.evidence / "trace.zip"
    with zipfile.ZipFile(trace) as kept:
        everything = b"".join(kept.read(n) for n in kept.namelist())
    assert b"search" in everything or b"query.do" in everything  # the trace has the task
    password = sim_endpoints["ss_portal"]["password"].encode()
    assert password not in everything


def test_a_refused_login_is_not_tried_again_by_later_tasks(
    sim, sim_endpoints, chromium, evidence, sim_dataset
):
    login = PortalLogin(**{**sim_endpoints["ss_portal"], "password": "wrong-password"})
    bot = SocialSecurityBot(login, chromium, evidence, mask_text, FAST_POLICY)
    p = person(sim_dataset, 0)
    with pytest.raises(ContractError, match="login refused"):
        bot.fetch_history(p.id_number, p.name)
    for _ in range(3):
        with pytest.raises(NeedsHuman, match="logins are stopped"):
            bot.fetch_history(p.id_number, p.name)
    assert len(sim.journal("ss", "login")) == 1  # one try; the account is not locked by us


def test_a_browser_that_died_is_transient_and_the_next_task_recovers(
    sim, ss_bot, chromium, sim_dataset
):
    p = person(sim_dataset, 0)
    assert ss_bot.fetch_history(p.id_number, p.name).found
    chromium.browser.close()  # a crash, as far as the bot can tell
    with pytest.raises(TransientError, match="browser went away"):
        ss_bot.fetch_history(p.id_number, p.name)
    assert ss_bot.fetch_history(p.id_number, p.name).found  # a new browser, a new login
    assert len(sim.journal("ss", "login")) == 2


def test_a_portal_nobody_answers_is_transient_not_a_screen_for_a_person(
    sim, sim_endpoints, chromium, evidence, sim_dataset
):
    """Connection refused: nothing was asked, so retry later; never NEEDS_HUMAN."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    login = PortalLogin(**{**sim_endpoints["ss_portal"], "url": f"http://127.0.0.1:{port}/ss/"})
    bot = SocialSecurityBot(login, chromium, evidence, mask_text, FAST_POLICY)
    p = person(sim_dataset, 0)
    try:
        with pytest.raises(TransientError, match="ERR_CONNECTION_REFUSED"):
            bot.fetch_history(p.id_number, p.name)
    finally:
        bot.close()
