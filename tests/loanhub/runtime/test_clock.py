"""The bank's clock at 07:30 in Shanghai, which is 23:30 UTC the day before: the bank's today,
the nightly business date, and what the runtime names with them (the tax request file). The
clock is injected (``now``), never patched."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from loanhub.runtime import tasks
from loanhub.runtime.clock import BankClock
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub
from schemas.tables import consent, early_warning
from schemas.types import local_day
from tests.loanhub.flows.test_harvest import take_in
from tests.loanhub.flows.test_postloan import active_loan

MORNING = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)  # 07:30 on 5 March in Shanghai
NIGHT_RUN = datetime(2026, 3, 4, 18, 30, tzinfo=UTC)  # 02:30 on 5 March: repayment_sync's run
BANK = BankClock.named("Asia/Shanghai")
FAR = datetime(2099, 1, 1, tzinfo=UTC)


def test_at_0730_in_shanghai_the_banks_today_is_the_5th():
    assert MORNING.date() == date(2026, 3, 4)  # what UTC says
    assert BANK.today(MORNING) == date(2026, 3, 5)
    assert BankClock.named("UTC").today(MORNING) == date(2026, 3, 4)


def test_the_nightly_business_date_is_the_banks_yesterday_at_the_run():
    """The 02:30 run of the 5th works on the 4th (the UTC date of the run is the 4th already:
    its yesterday would be the 3rd); a date asked for in the form wins; a manual run, which
    has no logical date, takes the clock's."""
    assert BANK.business_date(None, NIGHT_RUN) == date(2026, 3, 4)
    assert BANK.business_date("2026-02-28", NIGHT_RUN) == date(2026, 2, 28)
    assert BANK.business_date(None, None, now=MORNING) == date(2026, 3, 4)
    assert BANK.business_date("", None, now=MORNING) == date(2026, 3, 4)  # a cleared field


def test_a_naive_time_has_no_day_and_an_unknown_zone_is_refused_at_start():
    with pytest.raises(ValueError, match="naive"):
        local_day(ZoneInfo("Asia/Shanghai"), datetime(2026, 3, 4, 23, 30))
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        HubSettings(timezone="Asia/Shangai")


def test_the_hub_runs_on_the_configured_zone(tmp_path):
    hub = Hub(HubSettings(data_dir=tmp_path, timezone="America/New_York"))
    assert hub.clock == BankClock.named("America/New_York")
    assert Hub(HubSettings(data_dir=tmp_path)).clock == BANK  # the default: Shanghai


@pytest.fixture
def hub(monkeypatch, sim, sim_dir, pg_url, tmp_path) -> Hub:
    monkeypatch.setattr(
        Hub, "_current", Hub(HubSettings(database_url=pg_url, sim_dir=sim_dir, data_dir=tmp_path))
    )
    return Hub.here()


def test_a_tax_request_made_at_0730_in_shanghai_is_named_for_the_banks_day(
    hub, sim_dataset, pg_engine
):
    """Application 8 (with its tax consent): the file of 07:30 on the 5th is dated the 5th; a
    post-loan re-pull made then suffixes its request ids with the 5th too."""
    app = sim_dataset.applications[8]
    take_in(pg_engine, [app])
    asked = tasks.submit_tax([app.application_no], now=MORNING)
    assert asked["request"].startswith("TAXQ_LHB001_20260305_")
    again = tasks.submit_tax([app.application_no], purpose="post_loan", now=MORNING)
    assert again["suffix"] == "-R260305"


def test_a_consent_ending_at_0400_shanghai_on_the_6th_lapses_on_the_6th_not_the_5th(
    hub, sim_dataset, pg_engine
):
    """At 07:30 on 5 March in Shanghai, a post-loan tax consent that expires at 20:00 UTC on
    the 5th (04:00 on the 6th in Shanghai) has not lapsed: it lapses tomorrow, a WATCH, not a
    HIGH "lapsed" (what the UTC dates would say: the 5th, today)."""
    app = sim_dataset.applications[24]
    active_loan(pg_engine, app, "LNCLOCK024")
    # the social-security one outlasts the loan
    ends = {"TAX": datetime(2026, 3, 5, 20, 0, tzinfo=UTC), "SOCIAL_SECURITY": FAR}
    with pg_engine.begin() as conn:
        for scope, at in ends.items():
            conn.execute(
                update(consent)
                .where(consent.c.consent_ref == f"CNS-{app.application_no}-{scope[:3]}02")
                .values(expires_at=at)
            )
    assert tasks.post_loan_warnings([app.application_no], now=MORNING) == 1
    with pg_engine.connect() as conn:
        severity, message = conn.execute(
            select(early_warning.c.severity, early_warning.c.message).where(
                early_warning.c.rule == "consent_lapsing"
            )
        ).one()
    assert severity == "WATCH"
    assert "lapses on 2026-03-06" in message
