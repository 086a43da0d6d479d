"""LosBot: posts a credit decision into the LOS by screen, never twice by itself.

The LOS does not refuse a second decision and its gateway answers 504 after it has recorded
one, so the bot reads the application's status before it submits, every time, and after a 504
it reads the status instead of submitting again; so it does when the submit got no answer at
all (a dropped connection, a timeout), and once the submit was pressed an unforeseen failure
is an unknown outcome, never a strange screen. A LOS that cannot be reached (refused, DNS) is
transient: nothing was sent. That is screen protocol, and it lives here; ``read_status`` is
what the flows settle an in-doubt submission by (``decide.settle_los_decisions``).
Whether to post at all, and that two workers on one application post once, is the flows'
policy (``loanhub.flows.decide.post_to_los`` wraps the submission in a work item). A decision
above the user's limit comes back with ``waiting_for`` set: the LOS holds it for a checker.

Rounds: a return for more documents (已退回补件) closes a round, and the next decision on the
application opens the next one (``of_round``). The bot posts the decision of one round: a
RETURNED status is that round open (the form is the one to fill again), a decision of that
round already on the page is the one posted before (the same one: done; another: a person's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from playwright.sync_api import Error as PlaywrightError

from bots.browser import Chromium
from bots.config import LosLogin, ScreenPolicy
from bots.evidence import ScreenEvidence
from bots.los.pages import (
    REFERENCE,
    ApplicationPage,
    ConfirmationPage,
    Decision,
    LoginPage,
    Recorded,
    SearchPage,
    StatusPage,
    is_busy,
)
from bots.session import ScreenSession
from kernel.calls import CallObserver, ignore_call
from kernel.failures import (
    BusinessAnswer,
    ContractError,
    Masker,
    NeedsHuman,
    OutcomeUnknown,
    TransientError,
)

LOCKED = "账户已锁定"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecisionReceipt:
    """What the LOS holds after the bot: the approval reference and the application's status.

    ``submitted`` is False when the decision was already there (an earlier run, a 504);
    ``waiting_for`` names the person the LOS now waits for, if any (maker-checker)."""

    application_no: str
    reference: str
    status: str
    submitted: bool
    waiting_for: str = ""

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> DecisionReceipt:
        return cls(**{k: result[k] for k in cls.__dataclass_fields__ if k in result})

    def as_result(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StatusReading:
    """What 审批状态 shows: the status now and every decision recorded, oldest first."""

    application_no: str
    status: str
    decisions: list[Recorded]

    def of_round(self, number: int) -> list[Recorded]:
        return of_round(self.decisions, number)


class LosBot(ScreenSession):
    system = "los"

    def __init__(
        self,
        login: LosLogin,
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

    # -- the task -------------------------------------------------------------------------

    def submit_decision(
        self, application_no: str, decision: Decision, round: int = 1
    ) -> DecisionReceipt:
        """Post ``decision`` as the application's decision of ``round`` unless the LOS already
        holds it; returns the approval reference. A decision waiting for a checker comes back
        with ``waiting_for`` set; anything the bot cannot settle raises with evidence."""
        self.check(decision)
        result = self.task(
            "los_decision",
            application_no,
            lambda: self._decide(application_no, decision, round),
        )
        return DecisionReceipt.from_result(result)

    def application_status(self, application_no: str) -> str:
        """What the LOS's status page says now (after a checker acted, say); read-only."""

        def read() -> str:
            self._relogins_left = self.policy.relogins
            page = StatusPage(self.page)
            self._read_status(application_no)
            return page.status()

        return self.task("los_status", application_no, read)

    def read_status(self, application_no: str) -> StatusReading:
        """The status page as it is now: the application's status and every decision on it,
        read-only. What settles a submission nobody heard the end of: the page, not a guess."""

        def read() -> StatusReading:
            self._relogins_left = self.policy.relogins
            recorded = self._read_status(application_no)
            return StatusReading(application_no, StatusPage(self.page).status(), recorded)

        return self.task("los_status", application_no, read)

    def check(self, decision: Decision) -> None:
        """Refuse what the LOS form cannot take, before anything is opened or claimed."""
        if decision.decision not in ("APPROVE", "REJECT", "RETURN"):
            raise ContractError(f"los: unknown decision {decision.decision!r}", system=self.system)
        if decision.decision == "APPROVE" and not (
            decision.amount is not None
            and decision.amount > 0
            and decision.term_months is not None
            and decision.annual_rate is not None
        ):
            raise ContractError("los: an approval needs amount, term and rate", system=self.system)

    def _decide(self, application_no: str, decision: Decision, round: int) -> dict[str, Any]:
        self._relogins_left = self.policy.relogins
        before = self._read_status(application_no)
        opened = rounds_opened(before)
        if round > opened:  # the LOS never returned it that often: not the hub's to open
            raise NeedsHuman(
                f"los: {application_no} is in round {opened} in the LOS, not {round} (it was not "
                "returned for more documents); nothing was submitted",
                system=self.system,
            )
        this_round = of_round(before, round)
        if (settled := self._already(application_no, decision, this_round)) is not None:
            return settled
        form = self._open_application(application_no)
        if problems := form.form_problems():
            raise NeedsHuman(
                f"los: the approval form is not the one this bot knows (missing {problems}); "
                "nothing was submitted",
                system=self.system,
            )
        form.fill(decision)
        self.sending(f"the decision on {application_no}")  # from here the LOS may record it
        try:
            status = form.submit()
        except PlaywrightError as exc:  # no answer (dropped, timed out): read what it holds
            log.warning("los: no answer to the submit on %s: %s", application_no, exc)
            return self._read_back(application_no, decision, before, refused=False)
        confirmation = ConfirmationPage(self.page)
        if status == 200 and confirmation.is_showing():
            reference = confirmation.reference()
            if REFERENCE.match(reference):
                return self._outcome(application_no, reference, confirmation.status(), True)
        refused = status == 200 and (is_busy(self.page) or LoginPage(self.page).is_showing())
        # the LOS said "not now" (busy, session gone): nothing was recorded, unless the status
        # says otherwise; anything else (a 504, a page nobody knows) may hide a recorded decision
        return self._read_back(application_no, decision, before, refused=refused)

    # -- reading the LOS -------------------------------------------------------------------

    def _already(
        self, application_no: str, decision: Decision, recorded: list[Recorded]
    ) -> dict[str, Any] | None:
        """The result if the LOS already holds a decision on the application; None if not."""
        if not recorded:
            return None
        last = recorded[-1]
        if last.user == self.login.username and _same(last, decision):
            return self._outcome(application_no, last.reference, last.status_after, False)
        raise NeedsHuman(
            f"los: {application_no} already has decision {last.reference} ({last.decision} by "
            f"{last.user}, {last.status_after}); not submitting another",
            system=self.system,
            result={
                "application_no": application_no,
                "reference": last.reference,
                "status": last.status_after,
                "submitted": False,
            },
        )

    def _read_back(
        self, application_no: str, decision: Decision, before: list[Recorded], *, refused: bool
    ) -> dict[str, Any]:
        """After a submit without a confirmation, read what the LOS recorded instead of
        submitting again. Nothing there after a refusal page is safe to retry; nothing there
        after a 504 or an unknown page stays in doubt (a late commit is possible) until a read
        of the status settles it."""
        for attempt in range(1, self.policy.busy.attempts + 1):
            self.sleep(self.policy.busy.delay(attempt))  # let a slow commit land first
            try:
                after = self._read_status(application_no)
            except TransientError:
                continue
            new = after[len(before) :]
            if not new and refused:
                raise TransientError(
                    f"los: the LOS turned the submit away and recorded nothing on "
                    f"{application_no}: safe to try again",
                    system=self.system,
                )
            if not new:
                continue
            mine = new[-1]
            if mine.user != self.login.username or not _same(mine, decision):
                return self._already(application_no, decision, new)  # raises: not ours
            return self._outcome(application_no, mine.reference, mine.status_after, True)
        raise OutcomeUnknown(
            f"los: no confirmation after submitting on {application_no}, and its status shows "
            "no decision yet: in doubt until a read of the status settles it",
            system=self.system,
        )

    def _outcome(
        self, application_no: str, reference: str, status: str, submitted: bool
    ) -> dict[str, Any]:
        result = {
            "application_no": application_no,
            "reference": reference,
            "status": status,
            "submitted": submitted,
        }
        if status == "PENDING_REVIEW":
            result["waiting_for"] = "a second approver (复核): above this user's limit"
        return result

    def _read_status(self, application_no: str) -> list[Recorded]:
        page = StatusPage(self.page)
        self._visit(
            lambda: page.open(self.login.url, application_no), page.is_showing, "the status page"
        )
        if page.application_no() != application_no:
            raise ContractError(
                f"los: the status page shows {page.application_no()!r}, not {application_no}",
                system=self.system,
            )
        return page.decisions()

    def _open_application(self, application_no: str) -> ApplicationPage:
        search = SearchPage(self.page)
        self._visit(
            lambda: self.page.goto(self.login.url + "search"), search.is_showing, "the search page"
        )
        application = ApplicationPage(self.page)

        def find() -> None:
            search.find(application_no)
            if search.is_showing() and search.message():
                raise BusinessAnswer(f"los: {search.message()}", system=self.system)

        self._visit(find, application.is_showing, "the application page")
        if application.details().get("申请编号") != application_no:
            raise ContractError(
                f"los: opened the wrong application for {application_no}", system=self.system
            )
        return application

    # -- getting there ---------------------------------------------------------------------

    def _visit(self, go: Callable[[], None], arrived: Callable[[], bool], what: str) -> None:
        """Go somewhere read-only, logging in (once more at most) and backing off on the busy
        page as needed; a LOS that cannot be reached is transient (the read-back's loop may
        try again), anything else on the way is a screen for a person."""
        if not self.logged_in:
            self._log_in()
        attempt = 0
        while True:
            attempt += 1
            self.reach(go, what)
            if arrived():
                return
            if LoginPage(self.page).is_showing():
                if self._relogins_left <= 0:
                    raise TransientError(
                        "los: the session expired again after a new login", system=self.system
                    )
                self._relogins_left -= 1
                self._log_in()
                continue
            if is_busy(self.page):
                self.backoff(attempt, what)
                continue
            raise NeedsHuman(f"los: expected {what}, got {self.page.title()!r}", system=self.system)

    def _log_in(self) -> None:
        login = LoginPage(self.page)
        if not login.is_showing():
            self.reach(lambda: login.open(self.login.url), "the login page")
        self.untraced(
            lambda: login.log_in(self.login.username, self.login.password.get_secret_value())
        )
        if SearchPage(self.page).is_showing():
            self.logged_in = True
            return
        message = login.message() if login.is_showing() else ""
        self.refuse_logins(f"{self.login.username}: {message or self.page.title()}")
        if LOCKED in message:
            raise NeedsHuman(f"los: account locked: {message}", system=self.system)
        raise ContractError(
            f"los: login refused: {message or self.page.title()}", system=self.system
        )


def of_round(recorded: list[Recorded], number: int) -> list[Recorded]:
    """The decisions of round ``number`` (from 1), oldest first: a return (a row whose status
    after is RETURNED, the hub's or a checker's) is the last row of its round."""
    found: list[Recorded] = []
    current = 1
    for row in recorded:
        if current == number:
            found.append(row)
        if row.status_after == "RETURNED":
            current += 1
    return found


def rounds_opened(recorded: list[Recorded]) -> int:
    """The latest round the LOS has opened: one more than the returns on the page."""
    return 1 + sum(r.status_after == "RETURNED" for r in recorded)


def _same(recorded: Recorded, decision: Decision) -> bool:
    if recorded.decision != decision.decision:
        return False
    return decision.decision != "APPROVE" or recorded.amount == decision.amount


def decision_fields(decision: Decision) -> dict[str, Any]:
    """The decision as plain JSON values (amounts as strings): what a work item records."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(decision).items()}
