"""A one-trial sample of the crash-point sweep (the full one is ``make crash-sweep``): a
disbursement killed between the rename and the ``.ok`` and after the ``.ok``, and an LOS
posting killed after the LOS committed, each settled by the next run with nothing paid or
posted twice, lost, or left stuck."""

from __future__ import annotations

import pytest

from devtools import crash_sweep


@pytest.mark.timeout(600)
def test_a_sample_of_crash_points_leaves_nothing_doubled_lost_or_stuck() -> None:
    found, detail = crash_sweep.run(
        1, payment_points=["after_rename", "after_ok"], los_points=["after_commit"]
    )
    assert found == {
        "tranches paid twice": 0,
        "tranches lost": 0,
        "paid but recorded rejected": 0,
        "decisions posted twice": 0,
        "items left stuck with nobody to settle them": 0,
    }
    assert detail["payment kills"] == 2  # both crash points were reached and killed
    assert detail["payment crash points not reached"] == 0
    assert detail["files left in the gateway's inbox"] == 0
