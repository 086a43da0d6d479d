"""A tax request whose answer the authority deleted (after 7 days) before the hub took it is
asked again, once, under a new name; one younger than that, or whose answer was taken, is
waited on. Real SFTP simulator and authority, real PostgreSQL ledger and receipts."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.sftp import SftpConnector
from connectors.tax import TaxExchange
from contracts.tax_files import answer_name
from loanhub.flows import harvest, tax_requests
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from schemas.types import local_day
from tests.connectors.conftest import sftp_config
from tests.connectors.test_tax import queries

BANK = ZoneInfo("Asia/Shanghai")
BATCH = ["AGAIN-1", "AGAIN-2"]  # no stored applicants to link: rows are stored as they come


@pytest.fixture
def tax(sim_endpoints, tmp_path) -> TaxExchange:
    return TaxExchange(SftpConnector(sftp_config(sim_endpoints), system="tax"), tmp_path, "LHB001")


def age(sim_endpoints: dict, request: str, days: float) -> None:
    """The authority's files of ``request`` (the request, its answer, their triggers) as if
    written ``days`` ago: the authority's clock, moved for them alone."""
    root = Path(sim_endpoints["sftp"]["root"])
    then = time.time() - days * 86400
    for folder, name in (("inbox", request), ("outbox", answer_name(request))):
        for path in (root / folder / name, root / folder / f"{name}.ok"):
            if path.exists():
                os.utime(path, (then, then))


def until(what, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not (got := what()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return got


def deleted(sim_endpoints: dict, request: str) -> bool:
    return not (Path(sim_endpoints["sftp"]["root"]) / "outbox" / answer_name(request)).exists()


def test_an_answer_deleted_before_it_was_taken_is_asked_for_again_once(
    sim, sim_endpoints, sim_dataset, tax, pg_engine
):
    ledger, receipts = WorkItemLedger(pg_engine, owner="test"), FileReceiptBook(pg_engine)
    asked = queries(sim_dataset)
    first = tax_requests.submit_request(ledger, tax, asked, date(2026, 5, 4), BATCH, "harvest")
    until(lambda: tax.answered(first))  # answered, and not taken by the hub
    assert (
        tax_requests.request_in_force(
            ledger, tax, receipts, first, BATCH, "harvest", lambda: asked, zone=BANK
        )
        == first
    )  # answered: nothing to ask again

    age(sim_endpoints, first, 8)
    until(lambda: deleted(sim_endpoints, first))  # the authority's 7 days are over

    def in_force() -> str:
        return tax_requests.request_in_force(
            ledger, tax, receipts, first, BATCH, "harvest", lambda: asked, zone=BANK
        )

    again = in_force()
    assert again != first
    assert in_force() == again  # asked once: every later look waits on the same request
    assert WorkItemLedger(pg_engine, owner="w2").get(tax_requests.TAX_REQUEST_AGAIN, first)
    until(lambda: harvest.collect_tax(pg_engine, tax, receipts, again, []))
    age(sim_endpoints, again, 8)  # taken and stored, then deleted: nothing left to ask for
    until(lambda: deleted(sim_endpoints, again))
    assert in_force() == again
    time.sleep(0.3)  # a third request taken would be journaled by now
    assert [r["file"] for r in sim.journal("tax", "request")] == [first, again]
    # a name of the bank's day it was noticed
    assert again.startswith(f"TAXQ_LHB001_{local_day(BANK):%Y%m%d}_")


def test_a_request_younger_than_the_authoritys_seven_days_is_waited_on(
    sim, sim_endpoints, sim_dataset, tax, pg_engine
):
    sim.controls({"tax": {"*": {"answer_delay": 3.0}}})  # not answered yet
    ledger, receipts = WorkItemLedger(pg_engine, owner="test"), FileReceiptBook(pg_engine)
    asked = queries(sim_dataset)
    request = tax_requests.submit_request(ledger, tax, asked, date(2026, 5, 5), BATCH, "slow")
    age(sim_endpoints, request, 6.9)
    assert tax.answered(request) is None
    assert (
        tax_requests.request_in_force(
            ledger, tax, receipts, request, BATCH, "slow", lambda: asked, zone=BANK
        )
        == request
    )
    time.sleep(0.3)  # the authority takes requests every 0.1 s
    assert [r["file"] for r in sim.journal("tax", "request")] == [request]
