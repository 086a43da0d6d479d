"""Reading a legacy page in as few browser round trips as possible; shared by the page objects
of every legacy web application (2005-era markup: tables, red <font> messages, no ids)."""

from __future__ import annotations

from playwright.sync_api import Frame, Locator, Page

_READ_TABLE = """(table) => Array.from(table.rows).map(
    r => Array.from(r.cells).map(c => c.innerText.trim()))"""


def table_cells(table: Locator) -> list[list[str]]:
    """Every row of a table as its cells' text, in one round trip."""
    return table.evaluate(_READ_TABLE)


def body_text(scope: Page | Frame) -> str:
    """The visible text of the page, in one round trip (empty while there is no body)."""
    return scope.evaluate("() => document.body ? document.body.innerText : ''")


def red_message(scope: Page | Frame) -> str:
    """The message these applications print in red (a refused login, a lookup that missed)."""
    found = scope.locator("font[color=red]")
    return found.first.inner_text() if found.count() else ""
