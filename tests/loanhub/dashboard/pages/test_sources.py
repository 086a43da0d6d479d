"""``/sources``: the window asked for, kept between one hour and 90 days."""

from __future__ import annotations

import pytest

from tests.loanhub.dashboard.pages.conftest import sign_in


@pytest.mark.parametrize(("asked", "shown"), [(0, 1), (-5, 1), (168, 168), (10**6, 2160)])
def test_the_window_is_clamped(client, asked: int, shown: int):
    sign_in(client, "vera")
    page = client.get("/sources", params={"hours": asked})
    assert page.status_code == 200
    assert f"last {shown} h</span>" in page.text
    assert f"Calls per system, last {shown} h, by outcome" in page.text
