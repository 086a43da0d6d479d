"""SocialSecurityBot: a person's contribution history from the portal, as a clerk gets it.

Logs in with the TOTP of the bank's token, closes the 系统公告 notice whenever it shows, backs
off on the busy page, logs in again once when the session expires and resumes on the page it
was on, and prefers the 导出 CSV, falling back to reading the result pages. A captcha, a locked
account or a screen it does not know stops it with evidence (``NeedsHuman``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal
from urllib.parse import urljoin

import pyotp
from playwright.sync_api import Error as PlaywrightError

from bots.browser import Chromium
from bots.config import PortalLogin, ScreenPolicy
from bots.evidence import ScreenEvidence
from bots.session import ScreenSession
from bots.ss.pages import (
    BUSY,
    HEADERS,
    LOCKED,
    LoginPage,
    ResultsPage,
    SearchForm,
    Workspace,
    body_text,
)
from kernel.calls import CallObserver, ignore_call
from kernel.failures import ContractError, Masker, NeedsHuman, TransientError
from schemas.types import utcnow

Screen = Literal["login", "busy", "search", "not_found", "results", "unknown"]


@dataclass(frozen=True)
class ContributionHistory:
    """What the portal holds for one person, ready for the ``ss_history`` mapping.

    ``payload`` is the GBK CSV the 导出 button gives, or the rows read off the result pages
    (column header -> cell text); ``raw`` is what lineage hashes.
    """

    id_number: str
    found: bool
    source: Literal["export", "pages", "none"]
    payload: bytes | list[dict[str, str]]
    fetched_at: datetime
    pages: int = 0
    raw: bytes = field(default=b"", repr=False)

    @property
    def raw_sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def months(self) -> int:
        if isinstance(self.payload, bytes):
            return max(0, len(self.payload.decode("gbk").strip().splitlines()) - 1)
        return len(self.payload)


class SocialSecurityBot(ScreenSession):
    system = "ss"

    def __init__(
        self,
        login: PortalLogin,
        chromium: Chromium,
        evidence: ScreenEvidence,
        mask: Masker,
        policy: ScreenPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        observer: CallObserver = ignore_call,
    ) -> None:
        super().__init__(chromium, evidence, mask, policy, sleep, observer=observer)
        self.login = login
        self._relogins_left = 0
        self._last_code = ""

    # -- the task -------------------------------------------------------------------------

    def fetch_history(self, id_number: str, name: str) -> ContributionHistory:
        """The person's whole contribution history; evidence is filed under
        ``("ss_history", id_number)`` when it stops."""
        self._relogins_left = self.policy.relogins
        return self.task(
            "ss_history",
            id_number,
            lambda: self._fetch(id_number, name),
            sensitive=(id_number, name),
        )

    def _fetch(self, id_number: str, name: str) -> ContributionHistory:
        screen = self._search(id_number, name)
        if screen == "not_found":
            return ContributionHistory(id_number, False, "none", [], utcnow())
        results = ResultsPage(self._workspace().content)
        self._check_headers(results)
        total, _, pages = results.position()
        exported = self._export(id_number, name, total)
        if exported is not None:
            return ContributionHistory(
                id_number, True, "export", exported, utcnow(), pages=1, raw=exported
            )
        rows = self._read_pages(id_number, name, total)
        raw = json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()
        return ContributionHistory(id_number, True, "pages", rows, utcnow(), pages=pages, raw=raw)

    # -- where are we -----------------------------------------------------------------------

    def _workspace(self) -> Workspace:
        return Workspace(self.page)

    def _screen(self) -> Screen:
        """Which screen is on show, decided without waiting (the pages have loaded)."""
        if LoginPage(self.page).is_showing():
            return "login"
        workspace = self._workspace()
        if not workspace.is_showing():
            return "unknown"
        content = workspace.content
        if BUSY in body_text(content):
            return "busy"
        if ResultsPage(content).is_showing():
            return "results"
        form = SearchForm(content)
        if form.is_showing():
            return "not_found" if form.says_not_found() else "search"
        return "unknown"

    def _after(self, action: Callable[[], None]) -> Screen:
        """Do something that loads a page, then say where it landed. A content frame that
        lands on the login breaks out of the frameset: wait for the top page to follow."""
        try:
            action()
        except PlaywrightError:
            if not self._top_went_to_login():
                raise
        else:
            frame = self.page.frame(name="content")
            if frame is not None and frame.url.split("?")[0].endswith("login.do"):
                self._top_went_to_login()
        screen = self._screen()
        if screen in ("results", "search"):
            self._workspace().close_notice()
        return screen

    def _top_went_to_login(self) -> bool:
        try:
            self.page.wait_for_url("**/login.do", timeout=5000)
            self.page.wait_for_load_state()
        except PlaywrightError:
            return False
        return True

    # -- steps --------------------------------------------------------------------------------

    def _log_in(self) -> None:
        """Log in through the form; a captcha or a lock is for a person, a refusal is final
        (trying again would lock the account)."""
        login = LoginPage(self.page)
        if not login.is_showing():
            login.open(self.login.url)
        if login.has_captcha():
            raise NeedsHuman("ss: the login asks for a captcha", system=self.system)
        code = self._fresh_code()
        self.untraced(
            lambda: login.log_in(self.login.username, self.login.password.get_secret_value(), code)
        )
        if self._workspace().is_showing():
            self.page.frame(name="content").wait_for_load_state()  # type: ignore[union-attr]
            self._workspace().close_notice()
            self.logged_in = True
            return
        message = login.message() if login.is_showing() else ""
        self.refuse_logins(f"{self.login.username}: {message or 'unknown page after login'}")
        if LOCKED in message:
            raise NeedsHuman(f"ss: account locked: {message}", system=self.system)
        if login.is_showing() and login.has_captcha():
            raise NeedsHuman("ss: the login asks for a captcha", system=self.system)
        raise ContractError(f"ss: login refused: {message or 'unknown page'}", system=self.system)

    def _fresh_code(self) -> str:
        """A one-time code that will not expire in flight and was not used before (a portal
        may refuse a code it has seen, so a quick re-login waits for the next step)."""
        totp = pyotp.TOTP(self.login.totp_secret.get_secret_value())
        while True:
            left = 30 - time.time() % 30
            code = totp.now()
            if left >= 2 and code != self._last_code:
                self._last_code = code
                return code
            self.sleep(left + 0.1)

    def _relogin(self) -> None:
        if self._relogins_left <= 0:
            raise TransientError(
                "ss: the session expired again after a new login", system=self.system
            )
        self._relogins_left -= 1
        self._log_in()

    def _ensure_session(self) -> None:
        if not self.logged_in or self._screen() == "login":
            self._log_in()

    def _search(self, id_number: str, name: str) -> Screen:
        """Search, from wherever the workspace is: the form on the results page is reused."""
        self._ensure_session()
        attempt = 0
        while True:
            attempt += 1
            workspace = self._workspace()
            if not SearchForm(workspace.content).is_showing():
                screen = self._after(workspace.open_contribution_query)
                if screen == "search":
                    screen = self._after(
                        lambda: SearchForm(self._workspace().content).search(id_number, name)
                    )
            else:
                screen = self._after(
                    lambda: SearchForm(self._workspace().content).search(id_number, name)
                )
            if screen in ("results", "not_found"):
                return screen
            if screen == "busy":
                self.backoff(attempt, "the search")
                continue
            if screen == "login":
                self._relogin()
                continue
            raise NeedsHuman(
                "ss: the search form is not the one this bot knows", system=self.system
            )

    def _check_headers(self, results: ResultsPage) -> list[list[str]]:
        table = results.table()
        if not table or tuple(table[0]) != HEADERS:
            raise NeedsHuman(
                f"ss: the result table's columns changed: {table[0] if table else 'none'}",
                system=self.system,
            )
        return table

    def _export(self, id_number: str, name: str, total: int) -> bytes | None:
        """The 导出 CSV, fetched with the session's cookies; None when the portal will not give
        it (busy, a different file), so that the pages are read instead."""
        attempt = 0
        while True:
            attempt += 1
            content = self._workspace().content
            if not ResultsPage(content).can_export():
                return None
            answer = self.context.request.get(urljoin(content.url, "export.do"))
            self.documents += 1
            kind = answer.headers.get("content-type", "")
            if answer.ok and kind.startswith("text/csv"):
                return self._checked_csv(answer.body(), total)
            if answer.url.split("?")[0].endswith("login.do"):
                self._relogin()
                self._search(id_number, name)
                continue
            if BUSY in answer.body().decode("gbk", errors="replace"):
                if attempt >= self.policy.busy.attempts:
                    return None
                self.sleep(self.policy.busy.delay(attempt))
                continue
            return None

    def _checked_csv(self, body: bytes, total: int) -> bytes | None:
        try:
            lines = list(csv.reader(io.StringIO(body.decode("gbk"))))
        except UnicodeDecodeError as exc:
            raise ContractError(f"ss: the export is not GBK: {exc}", system=self.system) from exc
        if tuple(lines[0]) != HEADERS[1:]:
            raise NeedsHuman(f"ss: the export's columns changed: {lines[0]}", system=self.system)
        if len([line for line in lines[1:] if line]) != total:
            return None  # the file disagrees with the page: read the pages instead
        return body

    def _read_pages(self, id_number: str, name: str, total: int) -> list[dict[str, str]]:
        """Every result page, in order; after a new login, search again and go straight back
        to the page it was on."""
        rows: list[dict[str, str]] = []
        number = 1
        while True:
            results = ResultsPage(self._workspace().content)
            _, shown, pages = results.position()
            if shown != number:
                raise ContractError(f"ss: expected page {number}, got {shown}", system=self.system)
            table = self._check_headers(results)
            rows.extend(dict(zip(HEADERS[1:], row[1:], strict=True)) for row in table[1:])
            if number == pages:
                break
            number += 1
            screen = self._after(results.next_page)
            attempt = 0  # the busy allowance is per page: a long history is not one page
            while screen != "results":
                attempt += 1
                if screen == "busy":
                    self.backoff(attempt, f"result page {number}")
                elif screen == "login":
                    self._relogin()
                    self._search(id_number, name)
                else:
                    raise NeedsHuman(
                        f"ss: result page {number} is not a result page", system=self.system
                    )
                content = self._workspace().content
                screen = self._after(
                    partial(content.goto, urljoin(content.url, f"query.do?page={number}"))
                )
        if len(rows) != total:
            raise ContractError(
                f"ss: read {len(rows)} rows, the portal says {total}", system=self.system
            )
        return rows
