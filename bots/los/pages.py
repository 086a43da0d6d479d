"""Page objects of the LOS, one per screen: login, search, application (with its approval
form), confirmation, status. The LOS has ``<label for>`` on its fields, so they are found by
label; the approval form is checked whole before anything is typed into it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from playwright.sync_api import Dialog, Page

from bots.reading import body_text, red_message, table_cells

CONFIRM_TEXT = "确认提交审批意见"
DECISION_LABELS = {"APPROVE": "批准", "REJECT": "拒绝", "RETURN": "退回补件"}
STATUS = {
    "待审批": "PENDING",
    "已批准": "APPROVED",
    "已拒绝": "REJECTED",
    "已退回补件": "RETURNED",
    "待复核": "PENDING_REVIEW",
}
FORM_LABELS = ("批准金额（元）", "期限（月）", "年利率（%）", "放款条件", "审批意见")
REFERENCE = re.compile(r"^SP\d{14}$")


def _path(page: Page) -> str:
    return page.url.split("?")[0].rsplit("/", 1)[-1]


class LoginPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def is_showing(self) -> bool:
        return _path(self.page) == "login" and self.page.get_by_label("用户名").count() == 1

    def open(self, url: str) -> None:
        self.page.goto(url + "login")

    def message(self) -> str:
        return red_message(self.page)

    def log_in(self, username: str, password: str) -> None:
        self.page.get_by_label("用户名").fill(username)
        self.page.get_by_label("密码").fill(password)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="登录").click()


class SearchPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def is_showing(self) -> bool:
        return _path(self.page) == "search" and self.page.get_by_label("申请编号").count() == 1

    def find(self, application_no: str) -> None:
        self.page.get_by_label("申请编号").fill(application_no)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="查询").click()

    def message(self) -> str:
        return red_message(self.page)


def _details(page: Page) -> dict[str, str]:
    table = page.locator("table", has=page.get_by_text("申请编号", exact=True)).first
    return {row[0]: row[1] for row in table_cells(table) if len(row) == 2}


@dataclass(frozen=True)
class Decision:
    """The approval a clerk fills in: 审批结论, 批准金额, 期限, 年利率, 放款条件, 审批意见."""

    decision: str  # APPROVE | REJECT | RETURN
    amount: Decimal | None = None
    term_months: int | None = None
    annual_rate: Decimal | None = None
    conditions: str = ""
    comment: str = ""


class ApplicationPage:
    """申请信息 and the approval form under it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def is_showing(self) -> bool:
        return (
            _path(self.page) == "app" and self.page.get_by_text("申请信息", exact=True).count() == 1
        )

    def details(self) -> dict[str, str]:
        return _details(self.page)

    def form_problems(self) -> list[str]:
        """What differs from the form this bot was built for; empty when it is that form."""
        missing = [
            label for label in FORM_LABELS if self.page.get_by_label(label, exact=True).count() != 1
        ]
        missing += [
            label
            for label in DECISION_LABELS.values()
            if self.page.get_by_role("radio", name=label, exact=True).count() != 1
        ]
        if self.page.get_by_role("button", name="提交").count() != 1:
            missing.append("提交")
        return missing

    def fill(self, decision: Decision) -> None:
        page = self.page
        page.get_by_role("radio", name=DECISION_LABELS[decision.decision], exact=True).check()
        if decision.decision == "APPROVE":
            page.get_by_label("批准金额（元）", exact=True).fill(f"{decision.amount:.2f}")
            page.get_by_label("期限（月）", exact=True).select_option(str(decision.term_months))
            page.get_by_label("年利率（%）", exact=True).fill(f"{decision.annual_rate}")
        page.get_by_label("放款条件", exact=True).fill(decision.conditions)
        page.get_by_label("审批意见", exact=True).fill(decision.comment)

    def submit(self) -> int | None:
        """Press 提交 and accept the confirm() the LOS asks; any other dialog is dismissed.
        Returns the HTTP status of the page the submit led to."""
        seen: list[str] = []

        def answer(dialog: Dialog) -> None:
            seen.append(dialog.message)
            if dialog.type == "confirm" and CONFIRM_TEXT in dialog.message:
                dialog.accept()
            else:
                dialog.dismiss()

        self.page.once("dialog", answer)
        with self.page.expect_navigation() as navigation:
            self.page.get_by_role("button", name="提交").click()
        response = navigation.value
        return None if response is None else response.status


class ConfirmationPage:
    """提交成功: the approval reference (审批流水号) and the status after it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def is_showing(self) -> bool:
        return self.page.get_by_text("提交成功", exact=True).count() == 1

    def reference(self) -> str:
        return _details(self.page).get("审批流水号", "")

    def status(self) -> str:
        return STATUS.get(_details(self.page).get("当前状态", ""), "UNKNOWN")


@dataclass(frozen=True)
class Recorded:
    """One row of 审批记录."""

    reference: str
    decision: str
    amount: Decimal | None
    user: str
    status_after: str


class StatusPage:
    """审批状态: the application's status and every decision recorded on it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, url: str, application_no: str) -> None:
        self.page.goto(f"{url}status?no={application_no}")

    def is_showing(self) -> bool:
        return (
            _path(self.page) == "status"
            and self.page.get_by_text("审批记录", exact=True).count() == 1
        )

    def status(self) -> str:
        return STATUS.get(_details(self.page).get("当前状态", ""), "UNKNOWN")

    def application_no(self) -> str:
        return _details(self.page).get("申请编号", "")

    def decisions(self) -> list[Recorded]:
        table = self.page.locator("table", has=self.page.get_by_text("审批流水号", exact=True))
        rows = table_cells(table.last)[1:]
        by_label = {v: k for k, v in DECISION_LABELS.items()}
        return [
            Recorded(
                reference=r[0],
                decision=by_label.get(r[1], r[1]),
                amount=Decimal(r[2].replace(",", "")) if r[2] else None,
                user=r[3],
                status_after=STATUS.get(r[5], "UNKNOWN"),
            )
            for r in rows
            if len(r) == 6 and REFERENCE.match(r[0])
        ]


def is_busy(page: Page) -> bool:
    return "系统繁忙" in body_text(page)
