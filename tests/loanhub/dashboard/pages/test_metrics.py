"""The machines' routes: ``/health`` answers anyone, ``/metrics`` a scraper with the token or
a signed-in person (the token itself is checked in ``tests/loanhub/dashboard/test_metrics``)."""

from __future__ import annotations

from pydantic import SecretStr

from tests.loanhub.dashboard.pages.conftest import Hub, sign_in


def test_health_needs_no_login_and_no_store(client_for, hub: Hub):
    broken = hub.settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:9/x"})
    client = client_for(broken)
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_a_signed_in_person_may_read_the_metrics_without_the_token(client_for, hub: Hub):
    guarded = hub.settings.model_copy(
        update={
            "dashboard": hub.settings.dashboard.model_copy(
                update={"metrics_token": SecretStr("scrape-me")}
            )
        }
    )
    client = client_for(guarded)
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    sign_in(client, "vera")
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE loanhub_work_items gauge" in scraped.text


def test_without_a_token_configured_anyone_may_scrape(client):
    assert client.get("/metrics").status_code == 200


def test_a_token_in_another_script_is_refused_not_a_server_error(client_for, hub: Hub):
    guarded = hub.settings.model_copy(
        update={
            "dashboard": hub.settings.dashboard.model_copy(
                update={"metrics_token": SecretStr("scrape-me")}
            )
        }
    )
    client = client_for(guarded)
    odd = client.get("/metrics", headers={"authorization": "Bearer scrap\xe9".encode("latin-1")})
    assert odd.status_code == 401
    assert client.get("/metrics", headers={"authorization": "Bearer scrape-me"}).status_code == 200
