"""Page objects of the social-security portal, one per screen.

The portal is a 2005 frameset with table layouts and no ``<label>`` elements: a field is found
by the text of the cell before it, a button by its role and caption, a result by its column
headers. Each page object can tell whether it is the screen on show (``is_showing``) without
waiting, so that the bot recognises where it is instead of timing out.
"""

from __future__ import annotations

import re

from playwright.sync_api import Frame, Locator, Page

from bots.reading import body_text, red_message, table_cells

HEADERS = (
    "序号",
    "缴费年月",
    "单位名称",
    "统一社会信用代码",
    "缴费基数",
    "养老个人缴费",
    "养老单位缴费",
    "缴费状态",
)
BUSY = "系统繁忙"
NOT_FOUND = "未查询到该人员的参保缴费信息"
LOCKED = "账户已锁定"


def field(scope: Page | Frame, caption: str) -> Locator:
    """The input in the cell right after the cell that reads ``caption`` (a table-layout label)."""
    pattern = re.compile(r"^\s*" + r"\s*".join(map(re.escape, caption)) + r"\s*$")
    return scope.locator("td", has_text=pattern).locator("xpath=following-sibling::td[1]//input")


class LoginPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def is_showing(self) -> bool:
        return (
            self.page.url.split("?")[0].endswith("login.do")
            and field(self.page, "用户名：").count() == 1
        )

    def has_captcha(self) -> bool:
        """A picture captcha: only a person may answer it."""
        return field(self.page, "验证码：").count() > 0 or (
            self.page.get_by_role("img", name="验证码").count() > 0
        )

    def message(self) -> str:
        return red_message(self.page)

    def open(self, url: str) -> None:
        self.page.goto(url + "login.do")

    def log_in(self, username: str, password: str, code: str) -> None:
        field(self.page, "用户名：").fill(username)
        field(self.page, "密码：").fill(password)
        field(self.page, "动态口令：").fill(code)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="登 录").click()


class Workspace:
    """The frameset after login: the menu on the left, the content frame on the right."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def is_showing(self) -> bool:
        return (
            self.page.frame(name="menu") is not None and self.page.frame(name="content") is not None
        )

    @property
    def content(self) -> Frame:
        frame = self.page.frame(name="content")
        if frame is None:
            raise LookupError("the content frame is not there")
        return frame

    @property
    def menu(self) -> Frame:
        frame = self.page.frame(name="menu")
        if frame is None:
            raise LookupError("the menu frame is not there")
        return frame

    def close_notice(self) -> bool:
        """Close the 系统公告 modal if it is up: nothing else can be clicked while it is."""
        for frame in (self.content, self.page.main_frame):
            close = frame.get_by_role("button", name="关 闭")
            if close.count() and close.first.is_visible():
                close.first.click()
                return True
        return False

    def open_contribution_query(self) -> None:
        with self.content.expect_navigation():
            self.menu.get_by_role("link", name="参保缴费查询").click()


class SearchForm:
    """参保缴费查询: ID number and name."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame

    def is_showing(self) -> bool:
        return (
            field(self.frame, "身份证号码：").count() == 1
            and field(self.frame, "姓名：").count() == 1
            and self.frame.get_by_role("button", name="查 询").count() == 1
        )

    def search(self, id_number: str, name: str) -> None:
        field(self.frame, "身份证号码：").fill(id_number)
        field(self.frame, "姓名：").fill(name)
        with self.frame.expect_navigation():
            self.frame.get_by_role("button", name="查 询").click()

    def says_not_found(self) -> bool:
        return NOT_FOUND in body_text(self.frame)


_TOTAL = re.compile(r"共\s*(\d+)\s*条记录\s*第\s*(\d+)/(\d+)\s*页")


class ResultsPage:
    """参保缴费查询结果: 10 rows a page, 上一页/下一页, the 导 出 button."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame

    def _summary(self) -> re.Match[str] | None:
        return _TOTAL.search(body_text(self.frame))

    def is_showing(self) -> bool:
        return self._summary() is not None

    def position(self) -> tuple[int, int, int]:
        """(records in all, this page, pages in all)."""
        found = self._summary()
        if found is None:
            raise LookupError("not a results page")
        return int(found[1]), int(found[2]), int(found[3])

    def table(self) -> list[list[str]]:
        """Header and rows of the result table, read in one round trip."""
        table = self.frame.locator("table", has=self.frame.get_by_text("序号", exact=True)).last
        return table_cells(table)

    def next_page(self) -> None:
        with self.frame.expect_navigation():
            self.frame.get_by_role("link", name="下一页").click()

    def can_export(self) -> bool:
        return self.frame.get_by_role("button", name="导 出").count() == 1
