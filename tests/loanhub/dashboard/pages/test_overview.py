"""``/`` without Airflow's metadata DB, or with one that does not answer: the page still
shows the store's side and says what is missing."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from loanhub.dashboard.pages.overview import today_start
from tests.loanhub.dashboard.pages.conftest import Hub, sign_in


def test_without_airflow_the_page_says_so(client, hub: Hub):
    sign_in(client, "vera")
    page = client.get("/")
    assert page.status_code == 200
    assert "metadata DB is not configured" in page.text
    assert 'id="items-stuck">0<' in page.text


def test_an_airflow_db_that_does_not_answer_is_reported(client_for, hub: Hub, tmp_path):
    empty = f"sqlite:///{tmp_path / 'no-airflow-here.db'}"  # no dag_run table
    client = client_for(hub.settings.model_copy(update={"airflow_db_url": empty}))
    sign_in(client, "vera")
    page = client.get("/")
    assert page.status_code == 200
    assert "metadata DB did not answer: OperationalError" in page.text


def test_today_starts_at_midnight_in_the_hubs_zone():
    zone = ZoneInfo("Asia/Shanghai")
    start = today_start(zone)
    assert (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)
    assert start.utcoffset() == zone.utcoffset(start)
    assert 0 <= (datetime.now(UTC) - start).total_seconds() < 24 * 3600
