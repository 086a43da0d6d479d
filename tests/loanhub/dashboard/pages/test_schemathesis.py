"""A property-based run against the dashboard's own OpenAPI (schemathesis): every route, with
generated paths, queries and forms (valid ones and, schemathesis' negative mode, invalid
ones), anonymous and as a signed-in operator (half the forms
carrying the session's real CSRF token, so the handlers behind the check are reached too),
never answers 5xx nor raises. Small: a few hundred requests over an emptied PostgreSQL store,
well under a minute."""

from __future__ import annotations

import time

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from loanhub.dashboard.app import create_app
from loanhub.dashboard.state import COOKIE
from tests.loanhub.dashboard.pages.conftest import Hub, sign_in


def test_the_openapi_is_for_signed_in_users(client: TestClient):
    assert client.get("/openapi.json").status_code == 303
    assert client.get("/docs").status_code == 404
    sign_in(client, "vera")
    described = client.get("/openapi.json").json()
    assert "/items/{item_id}" in described["paths"]
    assert "/login" in described["paths"]


def test_no_request_the_schema_allows_gets_a_5xx(hub: Hub):
    app = create_app(hub.settings)
    operator = TestClient(app, follow_redirects=False)
    csrf = sign_in(operator, "otto")
    signed = {COOKIE: operator.cookies[COOKIE], "loanhub_lang": "en"}
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    # positive cases (what the schema allows) reach the handlers; negative ones (what it
    # does not: huge, negative or odd ids, wrong types) test the edge's own refusals
    cases = st.one_of([op.as_strategy(mode) for op in operations for mode in GenerationMode])
    seen: dict[int, int] = {}
    started = time.monotonic()

    @settings(
        max_examples=600,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, as_operator=st.booleans(), real_token=st.booleans())
    def run(case, as_operator: bool, real_token: bool) -> None:
        # the real token on every form but the logout's, which would end the session
        forms = isinstance(case.body, dict) and "csrf" in case.body
        if as_operator and real_token and forms and case.path != "/logout":
            case.body["csrf"] = csrf
        response = case.call(
            app=app, cookies=signed if as_operator else None, allow_redirects=False
        )
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.formatted_path, case.body)

    try:
        run()
    finally:
        engine = app.state.dashboard.__dict__.get("engine")
        if engine is not None:
            engine.dispose()
    assert time.monotonic() - started < 60
    assert seen.get(200, 0) > 30, seen  # it did reach pages, not only refusals
