"""What every bot shares: a lazily opened, reused browser context, one trace chunk per task,
and the rule that a failure leaves evidence and a fresh session behind it.

A Playwright error inside a task (an element that never came, a page that never loaded), or any
other surprise, means the bot met a screen it was not built for: that is ``NeedsHuman`` with
evidence, never a guess. A browser that died is transient: the next task launches another.

A system the browser could not reach (connection refused, a name that does not resolve, any
``net::ERR_*`` navigation error, Chromium's own error page) is no screen at all: nothing was sent,
so it is a ``TransientError``, never a person's case; a LOS that was merely down must not leave
its work items NEEDS_HUMAN forever. Once a bot has pressed a button that sends an effect
(``sending``), a failure it did not sort itself may hide a recorded effect: ``OutcomeUnknown``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from bots.browser import Chromium
from bots.config import ScreenPolicy
from bots.evidence import ScreenEvidence
from kernel.calls import CallObserver, ignore_call, observed
from kernel.failures import LegacyError, Masker, NeedsHuman, OutcomeUnknown, TransientError

T = TypeVar("T")

NET_ERROR = re.compile(r"net::(ERR_[A-Z0-9_]+)")
ERROR_PAGE = "chrome-error://"


def unreachable(exc: BaseException) -> str | None:
    """The ``net::ERR_*`` code when ``exc`` is the browser failing to reach a server (refused,
    reset, DNS, timed-out connect), else None. Such an error is about the network, never a
    screen: it says nothing about what the legacy application would have shown."""
    if not isinstance(exc, PlaywrightError):
        return None
    found = NET_ERROR.search(str(exc))
    return found.group(1) if found else None


class ScreenSession:
    system = ""

    def __init__(
        self,
        chromium: Chromium,
        evidence: ScreenEvidence,
        mask: Masker,
        policy: ScreenPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        observer: CallObserver = ignore_call,
    ) -> None:
        self.chromium = chromium
        self.observer = observer
        self.evidence = evidence
        self.mask = mask
        self.policy = policy or ScreenPolicy()
        self.sleep = sleep
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self.logged_in = False
        self.blocked = ""
        self._tracing = False
        self._sending = ""  # what this task may have sent; empty until it presses "send"
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
        item ``(kind, key)``, close the session (its page is masked now) and re-raise.

        Every failure leaves as one of the hub's kinds: a browser that died or a server it
        could not reach is transient (nothing was sent), anything else the bot did not foresee
        is a screen it does not know, for a person; but after ``sending`` any failure the bot
        did not sort itself is an unknown outcome.
        """
        if self.blocked:
            raise NeedsHuman(
                f"{self.system}: logins are stopped in this worker: {self.blocked}",
                system=self.system,
            )
        with observed(self.observer, self.system, kind):
            return self._sorted(kind, key, run, sensitive)

    def _sorted(self, kind: str, key: str, run: Callable[[], T], sensitive: Iterable[str]) -> T:
        """``run`` with its failure sorted into one of the hub's kinds, evidence filed."""
        self._sending = ""
        try:
            self._trace_start(kind, key)
            result = run()
        except LegacyError as exc:
            code = None if self._sending else self._on_error_page()
            if isinstance(exc, NeedsHuman) and code is not None:  # no screen: a server down
                reason = f"{self.system}: could not reach the server ({code}): {exc}"
                folder = self._file(kind, key, reason, sensitive)
                raise TransientError(
                    self.mask(reason), system=self.system, evidence=folder
                ) from exc
            exc.evidence = self._file(kind, key, str(exc), sensitive)
            raise
        except Exception as exc:  # a screen, file or value this bot was not built for
            sent = self._sending
            if not self._alive():
                self.close()
                if sent:
                    raise OutcomeUnknown(
                        f"{self.system}: the browser went away after sending {sent}: "
                        f"{_first_line(exc)}",
                        system=self.system,
                    ) from exc
                raise TransientError(
                    f"{self.system}: the browser went away: {_first_line(exc)}",
                    system=self.system,
                ) from exc
            if sent:
                reason = (
                    f"{self.system}: no answer after sending {sent}: {type(exc).__name__}: "
                    f"{_first_line(exc)}; in doubt until its status is read"
                )
                folder = self._file(kind, key, reason, sensitive)
                raise OutcomeUnknown(
                    self.mask(reason), system=self.system, evidence=folder
                ) from exc
            if (code := unreachable(exc) or self._on_error_page()) is not None:
                reason = f"{self.system}: could not reach the server ({code}); nothing was sent"
                folder = self._file(kind, key, reason, sensitive)
                raise TransientError(
                    self.mask(reason), system=self.system, evidence=folder
                ) from exc
            reason = f"{self.system}: unrecognised screen: {type(exc).__name__}: {_first_line(exc)}"
            folder = self._file(kind, key, reason, sensitive)
            raise NeedsHuman(self.mask(reason), system=self.system, evidence=folder) from exc
        self._trace_drop()  # success: nothing is kept
        return result

    def sending(self, what: str) -> None:
        """Say that the next step may send ``what`` to the legacy system (a submit button):
        from here to the end of the task, an unforeseen failure is an unknown outcome."""
        self._sending = what

    def reach(self, go: Callable[[], object], what: str) -> None:
        """Run a navigation; a server the browser could not reach is a ``TransientError``
        (a bot's own retry loop may catch it), the rest goes on as it is."""
        try:
            go()
        except PlaywrightError as exc:
            if (code := unreachable(exc)) is None:
                raise
            raise TransientError(
                f"{self.system}: could not reach {what} ({code})", system=self.system
            ) from exc
        if (code := self._on_error_page()) is not None:
            raise TransientError(
                f"{self.system}: could not reach {what} ({code})", system=self.system
            )

    def _on_error_page(self) -> str | None:
        """Whether the page, or one of its frames, is Chromium's own error page (a frame whose
        server went away does not raise: it shows ``chrome-error://chromewebdata/``)."""
        if self._page is None or self._page.is_closed():
            return None
        with contextlib.suppress(PlaywrightError):
            if any(f.url.startswith(ERROR_PAGE) for f in self._page.frames):
                return "chrome-error page"
        return None

    def _alive(self) -> bool:
        return self.chromium.connected and self._page is not None and not self._page.is_closed()

    def _trace_start(self, kind: str, key: str) -> None:
        if self.chromium.config.trace:
            self.context.tracing.start_chunk(title=f"{kind} {self.mask(key)}")
            self._tracing = True

    def _trace_drop(self) -> None:
        if self._tracing:
            self._tracing = False
            self.context.tracing.stop_chunk()

    def untraced(self, step: Callable[[], None]) -> None:
        """Run a step that types a secret (a login) outside the trace: Playwright records every
        value filled in, and a kept trace must never hold a password. What the task's chunk
        held before the step is dropped with it; the chunk starts again after the step."""
        was = self._tracing
        self._trace_drop()
        try:
            step()
        finally:
            if was:
                self.context.tracing.start_chunk(title=f"{self.system} after login")
                self._tracing = True

    def refuse_logins(self, reason: str) -> None:
        """A refused or locked login is final for this worker: trying again on the next task
        would lock the account (or hammer a locked one). An operator fixes the credentials or
        unlocks the user, then restarts the worker."""
        self.blocked = self.mask(reason)

    def _file(self, kind: str, key: str, reason: str, sensitive: Iterable[str]) -> Path:
        try:
            folder = self.evidence.capture(
                self.page,
                self.context,
                kind=kind,
                key=key,
                reason=reason,
                sensitive=sensitive,
                trace=self._tracing,
            )
        finally:
            self._tracing = False
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
        self._tracing = False
        self.logged_in = False


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0]
