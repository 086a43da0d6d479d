"""What every bot shares: a lazily opened, reused browser context, one trace chunk per task,
and the rule that a failure leaves evidence and a fresh session behind it.

A Playwright error inside a task (an element that never came, a page that never loaded) means
the bot met a screen it was not built for: that is ``NeedsHuman`` with evidence, never a guess.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from bots.browser import Chromium
from bots.config import ScreenPolicy
from bots.evidence import ScreenEvidence
from schemas.failures import LegacyError, Masker, NeedsHuman, TransientError

T = TypeVar("T")


class ScreenSession:
    system = ""

    def __init__(
        self,
        chromium: Chromium,
        evidence: ScreenEvidence,
        mask: Masker,
        policy: ScreenPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.chromium = chromium
        self.evidence = evidence
        self.mask = mask
        self.policy = policy or ScreenPolicy()
        self.sleep = sleep
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self.logged_in = False
        self.documents = 0  # pages and files fetched, for benchmarks and logs

    @property
    def context(self) -> BrowserContext:
        if self._context is None:
            self._context = self.chromium.new_context()
            self._context.on(
                "request", lambda r: self._count() if r.resource_type == "document" else None
            )
        return self._context

    @property
    def page(self) -> Page:
        if self._page is None or self._page.is_closed():
            self._page = self.context.new_page()
        return self._page

    def _count(self) -> None:
        self.documents += 1

    def task(self, kind: str, key: str, run: Callable[[], T], sensitive: Iterable[str] = ()) -> T:
        """Run one task in its own trace chunk; on failure file masked evidence under the work
        item ``(kind, key)``, close the session (its page is masked now) and re-raise."""
        tracing = self.chromium.config.trace
        if tracing:
            self.context.tracing.start_chunk(title=f"{kind} {self.mask(key)}")
        try:
            result = run()
        except LegacyError as exc:
            exc.evidence = self._file(kind, key, str(exc), sensitive)
            raise
        except PlaywrightError as exc:
            reason = f"{self.system}: unrecognised screen: {str(exc).splitlines()[0]}"
            folder = self._file(kind, key, reason, sensitive)
            raise NeedsHuman(self.mask(reason), system=self.system, evidence=folder) from exc
        if tracing:
            self.context.tracing.stop_chunk()  # success: the trace is not kept
        return result

    def _file(self, kind: str, key: str, reason: str, sensitive: Iterable[str]) -> Path:
        folder = self.evidence.capture(
            self.page, self.context, kind=kind, key=key, reason=reason, sensitive=sensitive
        )
        self.close()
        return folder

    def backoff(self, attempt: int, what: str) -> None:
        """Wait before trying a busy page again; bounded, so a loaded system is not hammered."""
        if attempt >= self.policy.busy.attempts:
            raise TransientError(
                f"{self.system}: {what} still busy after {attempt} tries", system=self.system
            )
        self.sleep(self.policy.busy.delay(attempt))

    def close(self) -> None:
        """Log out by forgetting the session: the next task starts a new context and logs in."""
        if self._context is not None:
            with contextlib.suppress(PlaywrightError):  # already gone with its browser
                self._context.close()
        self._context = None
        self._page = None
        self.logged_in = False
