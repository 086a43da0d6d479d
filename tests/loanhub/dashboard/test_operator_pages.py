"""The operator's actions in the real Chromium at 1366x768, on the dashboard served for real
(uvicorn on loopback) with the legacy systems' simulators behind it: an operator reads the
bureau about an inquiry in doubt and settles it to what was read, closes, reopens and
releases items, retakes a file and reprocesses quarantined records after a mapping fix; a
viewer sees none of the forms and her posts are refused. Each action is checked in the
store and in the audit chain, each page masked; screenshots go to /tmp/shots/operator-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select

from connectors.bureau import BureauConnector
from connectors.evidence import EvidenceStore
from kernel.failures import FailureKind, OutcomeUnknown
from loanhub.flows.harvest import BureauInquiries
from loanhub.platform.consents import ConsentBook
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from loanhub.platform.quarantine import open_sources
from loanhub.runtime.settings import HubSettings
from schemas.hub import WorkItemState
from schemas.tables import audit_event, file_receipt
from tests.connectors.conftest import soap_config
from tests.loanhub.dashboard.conftest import browser_page
from tests.loanhub.dashboard.serving import PASSWORDS, serving
from tests.loanhub.flows.conftest import record_consent
from tests.loanhub.flows.test_bureau_inquiries import known
from tests.loanhub.flows.test_reprocessing import REAL, answered, deploy, with_ratings
from tests.loanhub.flows.test_reprocessing import deployed as deployed  # the fixture

SHOTS = Path("/tmp/shots")


@dataclass
class Desk:
    url: str
    settings: HubSettings


@pytest.fixture(scope="module")
def desk_app(pg_url: str, sim_dir: Path, sim_endpoints, tmp_path_factory) -> Iterator[Desk]:
    data_dir = tmp_path_factory.mktemp("operator-desk")
    settings = HubSettings(
        data_dir=data_dir, database_url=pg_url, sim_dir=sim_dir, airflow_db_url=None
    )
    with serving(settings) as url:
        yield Desk(url, settings)


@pytest.fixture
def desk_page(chromium, desk_app: Desk) -> Iterator[Page]:
    """A 1366x768 session reading English (the steps find controls by their English names)."""
    with browser_page(chromium, desk_app.url) as page:
        page.set_default_timeout(20_000)
        yield page


def log_in(page: Page, desk: Desk, user: str, wanted: str = "/queues") -> None:
    page.goto(desk.url + wanted)
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(desk.url + wanted) + r"(\?.*)?$"))


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"operator-{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"{name} scrolls sideways at 1366 px ({width} px)"


def events(engine: Engine, action: str) -> list[tuple[str, dict]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(audit_event.c.actor, audit_event.c.after).where(
                    audit_event.c.action == action
                )
            )
        ]


def lost_inquiry(sim, sim_endpoints, desk: Desk, sim_dataset, engine: Engine, n: int):
    """A bureau query whose answer was lost: IN_DOUBT, the bureau holding the inquiry."""
    person = known(sim_dataset, n)
    record_consent(engine, person.id_number)
    evidence = EvidenceStore(desk.settings.data_dir / "evidence", mask_text)
    book = BureauInquiries(
        BureauConnector(soap_config(sim_endpoints, "bureau"), mask_text, evidence),
        ConsentBook(engine),
        LedgerGuard(WorkItemLedger(engine, owner="harvest"), wait_seconds=5),
    )
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(OutcomeUnknown):
        book.personal_report(f"APP-DESK{n}", person.id_number, person.name)
    item = WorkItemLedger(engine).get("bureau_query", f"APP-DESK{n}:{person.id_number}:01")
    assert item is not None
    assert item.state is WorkItemState.IN_DOUBT
    return person, item


def test_an_operator_reads_the_bureau_and_settles_the_inquiry_to_what_it_read(
    sim, sim_endpoints, sim_dataset, desk_app: Desk, pg_engine: Engine, desk_page: Page
):
    page = desk_page
    person, item = lost_inquiry(sim, sim_endpoints, desk_app, sim_dataset, pg_engine, 42)
    log_in(page, desk_app, "otto")
    row = page.locator(f'#stuck tr[data-item="{item.id}"]')
    expect(row).to_contain_text("IN_DOUBT")
    shot(page, "queues")
    row.get_by_role("link", name="act").click()
    page.wait_for_url(f"{desk_app.url}/items/{item.id}")
    expect(page.locator("#settle")).to_have_count(0)  # nothing to confirm before a reading
    page.get_by_role("button", name="Read the legacy system").click()
    reading = page.locator("#reading")
    expect(reading).to_contain_text("RetrieveReport")
    expect(reading).to_contain_text("The reading supports: it happened")
    assert person.id_number not in page.content()  # the key and the reading, masked
    shot(page, "item-read")
    assert len(sim.journal("bureau", "retrieval")) == 1  # the reading was a read, nothing sent
    page.locator("#settle-note").fill("read back from the bureau, no second inquiry")
    page.get_by_role("button", name="Confirm: done").click()
    page.wait_for_url(f"{desk_app.url}/items/{item.id}?done=settled")
    expect(page.get_by_role("status")).to_contain_text("Settled after reading")
    expect(page.locator("h1 .pill")).to_have_text("DONE")
    expect(page.locator("#trail")).to_contain_text("operator.settled")
    shot(page, "item-settled")
    assert WorkItemLedger(pg_engine).get_by_id(item.id).state is WorkItemState.DONE
    [(actor, after)] = events(pg_engine, "operator.settled")
    assert (actor, after["outcome"], after["note"]) == (
        "dashboard:otto",
        "done",
        "read back from the bureau, no second inquiry",
    )
    assert len(sim.journal("bureau", "query")) == 1  # one hard inquiry, ever


def test_an_operator_closes_reopens_and_releases(
    desk_app: Desk, pg_engine: Engine, desk_page: Page
):
    page = desk_page
    ledger = WorkItemLedger(pg_engine, owner="w1")
    waiting = ledger.needs_human(
        ledger.claim("payee_account", "APP-DESK-P", {"a": 1}), "no deposit account at the core"
    )
    failed = ledger.fail(
        ledger.claim("payment", "LN-DESK-T01", {"e": 1}), FailureKind.CONTRACT, "bad creditor"
    )
    log_in(page, desk_app, "otto")
    page.locator(f'#stuck tr[data-item="{waiting.id}"]').get_by_role("link", name="act").click()
    page.locator("#close-note").fill("paid at the branch counter")
    shot(page, "item-close")
    page.get_by_role("button", name="Close").click()
    page.wait_for_url(f"{desk_app.url}/items/{waiting.id}?done=closed")
    expect(page.locator("h1 .pill")).to_have_text("CLOSED")
    page.locator("#reopen-note").fill("the branch has no record of it")
    page.get_by_role("button", name="Reopen").click()
    page.wait_for_url(f"{desk_app.url}/items/{waiting.id}?done=reopened")
    expect(page.locator("h1 .pill")).to_have_text("NEEDS_HUMAN")
    page.goto(f"{desk_app.url}/queues")
    page.locator(f'#refused tr[data-item="{failed.id}"]').get_by_role("link", name="act").click()
    page.locator("#release-note").fill("the creditor account was corrected")
    page.get_by_role("button", name="Release").click()
    page.wait_for_url(f"{desk_app.url}/items/{failed.id}?done=released")
    found = WorkItemLedger(pg_engine).get_by_id(failed.id)
    assert (found.state, found.failure_kind) == (WorkItemState.FAILED, "transient")
    assert [a["note"] for _, a in events(pg_engine, "operator.closed")] == [
        "paid at the branch counter"
    ]
    assert [a["note"] for _, a in events(pg_engine, "operator.reopened")] == [
        "the branch has no record of it"
    ]
    assert [who for who, _ in events(pg_engine, "operator.released")] == ["dashboard:otto"]


def test_an_operator_reprocesses_after_a_mapping_fix_and_retakes_a_file(
    sim, sim_endpoints, sim_dataset, desk_app, pg_engine, desk_page, tmp_path, deployed
):
    page = desk_page
    deploy(deployed, with_ratings("A"))
    answered(sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, date(2026, 3, 14))
    [source] = open_sources(pg_engine, "tax")
    log_in(page, desk_app, "otto", "/files")
    row = page.locator(f'#sources tr[data-source="{source.source_ref}"]')
    expect(row).to_contain_text("2")
    shot(page, "files")
    version = deploy(deployed, REAL)  # the fix, deployed while the page is open
    row.get_by_placeholder("what was fixed").fill("every tax rating in the code table")
    row.get_by_role("button", name="Reprocess").click()
    page.wait_for_url(f"{desk_app.url}/files?done=reprocessed")
    expect(page.get_by_role("status")).to_contain_text("Reprocessed with the current mapping")
    expect(page.locator("#sources")).to_contain_text("Nothing quarantined.")
    with pg_engine.connect() as conn:
        receipt = conn.execute(select(file_receipt)).mappings().one()
    assert (receipt["records_loaded"], receipt["records_quarantined"]) == (3, 0)
    [(actor, after)] = events(pg_engine, "quarantine.reprocessed")
    assert (actor, after["mapping_version"], after["moved"]) == ("dashboard:otto", version, 2)
    retake = page.locator(f'#receipts tr[data-receipt="{receipt["id"]}"]')
    retake.get_by_placeholder("what was fixed").fill("the authority re-sent the answer")
    retake.get_by_role("button", name="Take again").click()
    page.wait_for_url(f"{desk_app.url}/files?done=retaken")
    expect(page.locator(f'#receipts tr[data-receipt="{receipt["id"]}"]')).to_contain_text(
        "RECEIVED"
    )
    shot(page, "files-retaken")
    assert [a["note"] for _, a in events(pg_engine, "file.retake")] == [
        "the authority re-sent the answer"
    ]


def test_a_viewer_sees_no_forms_and_her_posts_are_refused(
    sim, sim_endpoints, sim_dataset, desk_app: Desk, pg_engine: Engine, desk_page: Page
):
    page = desk_page
    person, item = lost_inquiry(sim, sim_endpoints, desk_app, sim_dataset, pg_engine, 43)
    ledger = WorkItemLedger(pg_engine, owner="w1")
    waiting = ledger.needs_human(ledger.claim("payee_account", "APP-DESK-V", {"a": 1}), "none")
    log_in(page, desk_app, "vera")
    expect(page.locator("#stuck a.act")).to_have_count(0)
    page.goto(f"{desk_app.url}/items/{item.id}")
    expect(page.locator("#actions")).to_have_count(0)
    expect(page.get_by_role("button", name="Read the legacy system")).to_have_count(0)
    assert person.id_number not in page.content()
    shot(page, "item-viewer")
    page.goto(f"{desk_app.url}/files")
    expect(page.locator("form.retake, form.reprocess")).to_have_count(0)
    token = page.locator('input[name="csrf"]').first.get_attribute("value")  # her logout form's
    for path, data in (
        (f"/items/{item.id}/read", {}),
        (f"/items/{item.id}/settle", {"outcome": "done", "note": "x"}),
        (f"/items/{waiting.id}/close", {"note": "x"}),
    ):
        answer = page.request.post(desk_app.url + path, form={**data, "csrf": token})
        assert answer.status == 403, path
    assert sim.journal("bureau", "retrieval") == []  # her read never reached the bureau
    assert WorkItemLedger(pg_engine).get_by_id(item.id).state is WorkItemState.IN_DOUBT
    assert WorkItemLedger(pg_engine).get_by_id(waiting.id).state is WorkItemState.NEEDS_HUMAN
    assert events(pg_engine, "operator.settled") == []
    assert events(pg_engine, "operator.closed") == []
