"""Bots against the running portal simulators, in Debian's Chromium, with no store: a bot is
screen protocol only. One browser for the module's tests, as a worker process has one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.config import LosLogin, PortalLogin, ScreenPolicy
from bots.evidence import ScreenEvidence
from bots.los.bot import LosBot
from bots.ss.bot import SocialSecurityBot
from kernel.failures import RetryPolicy
from loanhub.platform.masking import mask_text
from tests.simulators.portal_pages import los_user

FAST_POLICY = ScreenPolicy(busy=RetryPolicy(attempts=4, base_seconds=0.05, cap_seconds=0.2))


@pytest.fixture
def evidence(tmp_path: Path) -> ScreenEvidence:
    return ScreenEvidence(tmp_path / "screens", mask_text)


@pytest.fixture
def ss_bot(sim, sim_endpoints, chromium, evidence) -> Iterator[SocialSecurityBot]:
    bot = SocialSecurityBot(
        PortalLogin(**sim_endpoints["ss_portal"]), chromium, evidence, mask_text, FAST_POLICY
    )
    yield bot
    bot.close()


def los_login(endpoints: dict, index: int = 0) -> LosLogin:
    return LosLogin(url=endpoints["los"]["url"], **los_user(endpoints, index))


@pytest.fixture
def los_bot(sim, sim_endpoints, chromium, evidence) -> Iterator[LosBot]:
    bot = LosBot(los_login(sim_endpoints), chromium, evidence, mask_text, FAST_POLICY)
    yield bot
    bot.close()
