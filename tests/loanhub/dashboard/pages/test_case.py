"""``/case``: finding a case file by what names it (anyone signed in), by ID number (operators
only, with the form's token, audited with the ID masked), and the page's refusals."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from loanhub.platform.masking import mask_id
from schemas.tables import application, audit_event, loan
from tests.loanhub.dashboard.pages.conftest import Hub, sign_in
from tests.loanhub.dashboard.seed import World, seed


def searches(hub: Hub) -> list:
    with hub.store.connect() as conn:
        return conn.execute(
            select(audit_event.c.actor, audit_event.c.subject, audit_event.c.after).where(
                audit_event.c.action == "case.searched_by_id"
            )
        ).all()


def an_applicant(hub: Hub) -> tuple[str, str]:
    """An application of the seeded world with a loan, and its applicant's resident ID."""
    with hub.store.connect() as conn:
        return conn.execute(
            select(application.c.application_no, application.c.party_id_number)
            .join(loan, loan.c.application_no == application.c.application_no)
            .order_by(application.c.application_no)
        ).first()


def test_anyone_signed_in_finds_by_number_loan_or_prefix(client: TestClient, hub: Hub):
    seed(hub.store, hub.settings.screen_evidence_dir)
    number, _ = an_applicant(hub)
    assert client.get("/case").headers["location"] == "/login?next=/case"
    sign_in(client, "vera")
    assert client.get("/case").status_code == 200
    found = client.get("/case", params={"q": number})
    assert (found.status_code, found.headers["location"]) == (303, f"/case/{number}")
    with hub.store.connect() as conn:
        account = conn.execute(
            select(loan.c.loan_account).where(loan.c.application_no == number)
        ).scalar_one()
    assert client.get("/case", params={"q": account}).headers["location"] == f"/case/{number}"
    listed = client.get("/case", params={"q": number[:5]})
    assert listed.status_code == 200
    assert listed.text.count('href="/case/') > 1
    assert "Nothing found" in client.get("/case", params={"q": "ZZ-NOTHING"}).text
    page = client.get(f"/case/{number}")
    assert page.status_code == 200
    assert 'id="casefile"' in page.text
    assert "Operators only." in page.text  # a viewer sees no evidence references
    assert client.get("/case/NO-SUCH-APPLICATION").status_code == 404
    assert searches(hub) == []


def test_a_viewer_may_not_search_by_id_number(client: TestClient, hub: Hub):
    world: World = seed(hub.store, hub.settings.screen_evidence_dir)
    _, resident = an_applicant(hub)
    token = sign_in(client, "vera")
    assert 'name="id_number"' not in client.get("/case").text  # no ID form for a viewer
    assert client.get("/case", params={"q": resident}).status_code == 403
    refused = client.post("/case/by-id", data={"id_number": resident, "csrf": token})
    assert refused.status_code == 403
    assert resident not in refused.text
    assert searches(hub) == []  # nothing searched, nothing audited
    assert world.ids


def test_an_operator_searches_by_id_with_the_form_and_it_is_audited(client: TestClient, hub: Hub):
    seed(hub.store, hub.settings.screen_evidence_dir)
    number, resident = an_applicant(hub)
    token = sign_in(client, "otto")
    assert 'name="id_number"' in client.get("/case").text
    # not in an address: an ID in q is refused even to an operator, and nothing is searched
    assert client.get("/case", params={"q": resident}).status_code == 400
    assert client.post("/case/by-id", data={"id_number": resident}).status_code == 403
    assert client.post("/case/by-id", data={"id_number": resident, "csrf": "x"}).status_code == 403
    assert searches(hub) == []
    found = client.post("/case/by-id", data={"id_number": resident.lower(), "csrf": token})
    assert (found.status_code, found.headers["location"]) == (303, f"/case/{number}")
    ((actor, subject, after),) = searches(hub)
    assert actor == "dashboard:otto"
    assert subject == mask_id(resident)
    assert after == {"found": [number], "channel": "dashboard"}
    page = client.get(found.headers["location"])
    assert resident not in page.text
    assert "Operators only." not in page.text
    bad = client.post("/case/by-id", data={"id_number": "12345", "csrf": token})
    assert bad.status_code == 400
    assert len(searches(hub)) == 1  # a text that is no ID is not searched
