"""One Chromium per worker process, contexts handed out per logged-in session.

A fresh browser per lookup costs ~0.9 s and a fresh context ~0.7 s on this machine against
~0.25 s for a reused page (protocol-notes.md), so a bot keeps its context and page for as long
as its session lives. The sync Playwright API is bound to the thread that started it: a
``Chromium`` is used from one thread.
"""

from __future__ import annotations

from types import TracebackType

from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from bots.config import BrowserConfig


class Chromium:
    def __init__(self, config: BrowserConfig | None = None) -> None:
        self.config = config or BrowserConfig()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    @property
    def browser(self) -> Browser:
        """The process's browser, launched on first use (not at import: DAG files import us)."""
        if self._browser is None or not self._browser.is_connected():
            if self._playwright is None:
                self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(self.config.executable_path),
                args=self.config.launch_args(),
                headless=self.config.headless,
            )
        return self._browser

    @property
    def connected(self) -> bool:
        """Whether the browser is up (it may have crashed or been closed under us)."""
        return self._browser is not None and self._browser.is_connected()

    def new_context(self) -> BrowserContext:
        """A context for one logged-in session: its own cookies, the bots' timeouts, and a
        trace running in chunks so that each task can keep or drop its own."""
        context = self.browser.new_context(locale="zh-CN", accept_downloads=False)
        context.set_default_timeout(self.config.action_timeout * 1000)
        context.set_default_navigation_timeout(self.config.navigation_timeout * 1000)
        if self.config.trace:
            context.tracing.start(screenshots=True, snapshots=self.config.trace_snapshots)
        return context

    def close(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
