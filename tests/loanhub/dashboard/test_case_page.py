"""The case file page in the real Chromium at 1366x768 over the dashboard's seeded world: an
operator finds an application by its applicant's ID with the form (audited, the ID masked),
reaches it from the warnings page's link too, and the page shows nothing personal in clear; a
viewer has no ID form and is refused an ID search."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from loanhub.platform.masking import mask_id
from schemas.tables import application, audit_event, early_warning, loan
from tests.loanhub.dashboard.conftest import Served, browser_page
from tests.loanhub.dashboard.test_pages import assert_masked, log_in

SHOTS = Path("/tmp/shots")


@pytest.fixture
def desk(chromium, served: Served) -> Iterator[Page]:
    """A 1366x768 session reading English (the steps find controls by their English names)."""
    with browser_page(chromium, served.url) as page:
        yield page


def a_lent_application(served: Served) -> tuple[str, str, str]:
    """(application, its applicant's resident ID, its loan account with a warning)."""
    with served.store.connect() as conn:
        return tuple(
            conn.execute(
                select(
                    application.c.application_no, application.c.party_id_number, loan.c.loan_account
                )
                .join(loan, loan.c.application_no == application.c.application_no)
                .join(early_warning, early_warning.c.loan_account == loan.c.loan_account)
                .order_by(application.c.application_no)
            ).first()
        )


def searched(served: Served) -> list:
    with served.store.connect() as conn:
        return conn.execute(
            select(audit_event.c.actor, audit_event.c.subject, audit_event.c.after).where(
                audit_event.c.action == "case.searched_by_id"
            )
        ).all()


def test_an_operator_finds_a_case_by_id_and_by_the_warnings_link(served: Served, desk: Page):
    number, resident, account = a_lent_application(served)
    before = len(searched(served))
    log_in(desk, served, "otto", "/case")
    desk.get_by_label("or by ID number (operators, audited)").fill(resident)
    desk.get_by_role("button", name="Find by ID").click()
    desk.wait_for_url(f"{served.url}/case/{number}")
    assert desk.locator("#casefile").get_attribute("data-application") == number
    assert_masked(desk.content(), served)
    assert resident not in desk.url
    found = searched(served)
    assert len(found) == before + 1
    assert found[-1].actor == "dashboard:otto"
    assert found[-1].subject == mask_id(resident)
    assert found[-1].after["found"] == [number]
    assert desk.locator("#cf-evidence table").count() == 1  # an operator sees the evidence
    tranche = desk.locator("#cf-loan [data-tranche='1'] td").nth(2).inner_text()
    assert re.fullmatch(r"\d{6}\*+\d{4}", tranche), tranche  # the card paid into, masked
    assert desk.evaluate("document.documentElement.scrollWidth") <= 1366
    SHOTS.mkdir(parents=True, exist_ok=True)
    desk.screenshot(path=str(SHOTS / "casefile-seeded.png"))
    desk.goto(f"{served.url}/warnings")
    link = desk.locator("#warnings a.case-link", has_text=account).first
    assert link.get_attribute("href") == f"/case/{number}"
    link.click()
    desk.wait_for_url(f"{served.url}/case/{number}")
    assert desk.locator("#cf-warnings tbody tr").count() >= 1


def test_a_viewer_sees_no_id_form_and_is_refused_an_id_search(served: Served, desk: Page):
    number, resident, _ = a_lent_application(served)
    before = len(searched(served))
    log_in(desk, served, "vera", "/case")
    assert desk.locator("input[name=id_number]").count() == 0
    desk.get_by_label("Find a case file").fill(resident)
    desk.get_by_role("button", name="Find", exact=True).click()
    assert "operators only" in desk.content()
    assert len(searched(served)) == before
    desk.goto(f"{served.url}/case/{number}")
    assert desk.locator("#cf-evidence").inner_text().strip().endswith("Operators only.")
    assert_masked(desk.content(), served)
    desk.get_by_label("Find a case file").fill(number[:6])
    desk.get_by_role("button", name="Find", exact=True).click()
    assert desk.locator("#cf-results a").count() >= 2
