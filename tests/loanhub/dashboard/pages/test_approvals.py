"""``/approvals``: the window asked for, kept between one day and 366."""

from __future__ import annotations

import pytest

from tests.loanhub.dashboard.pages.conftest import sign_in


@pytest.mark.parametrize(("asked", "shown"), [(0, 1), (90, 90), (5000, 366)])
def test_the_window_is_clamped(client, asked: int, shown: int):
    sign_in(client, "vera")
    page = client.get("/approvals", params={"days": asked})
    assert page.status_code == 200
    assert f"decided in the last {shown} {'day' if shown == 1 else 'days'}<" in page.text
