"""The dashboard in both its languages, in the real Chromium at 1366x768 over seeded data: a
first visit reads Simplified Chinese (login page included) and no string the code marks shows
in English on it; the header's switch turns every page English and back, each page still
masked and not scrolling sideways, the header on one line. Screenshots of every page in both
languages go to ``/tmp/shots/i18n-<lang>-<page>.png``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devtools import i18n as tool
from tests.loanhub.dashboard.conftest import Served, browser_page
from tests.loanhub.dashboard.serving import PASSWORDS

SHOTS = Path("/tmp/shots")
PAGES = ["/", "/sources", "/queues", "/approvals", "/warnings", "/files"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")

# Every text node and every attribute a person reads, as the browser has them.
VISIBLE = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const parent = walk.currentNode.parentElement;
    if (parent && ['SCRIPT', 'STYLE'].includes(parent.tagName)) continue;
    const text = walk.currentNode.textContent.trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll('[title], [aria-label], [alt], [placeholder]'))
    for (const a of ['title', 'aria-label', 'alt', 'placeholder'])
      if (el.getAttribute(a)) out.push(el.getAttribute(a).trim());
  return out;
}"""


def _pattern(message: str) -> re.Pattern[str]:
    """A message as it shows once its placeholders are filled in."""
    parts = PLACEHOLDER.split(message.replace("%%", "%"))
    return re.compile(".+?".join(re.escape(p) for p in parts))


@pytest.fixture(scope="module")
def messages() -> dict[str, list[re.Pattern[str]]]:
    """The English of every prose string the code marks, and the Chinese of each, that must
    not show on a page of the other language (codes are left out: a code is also data; so are
    strings the same in both languages, DAG, and units, "%(hours)s h": numbers and times are
    written the same in both)."""
    english, chinese = [], []
    for m in tool.read("zh_CN"):
        if not m.id or m.context:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        for msgid in ids:
            if re.search("[A-Za-z]{2}", PLACEHOLDER.sub("", msgid)) and msgid not in strings:
                english.append(_pattern(msgid))
        chinese += [_pattern(s) for s in strings if re.search(r"[\u4e00-\u9fff]", s)]
    return {"en": english, "zh-CN": chinese}


def shown_in(page: Page, patterns: list[re.Pattern[str]]) -> list[str]:
    """The texts of the page that are one of ``patterns`` whole (an untranslated string is a
    text node of its own; data that merely contains a word of one is not)."""
    return sorted({t for t in page.evaluate(VISIBLE) for p in patterns if p.fullmatch(t)})


def check(page: Page, served: Served, lang: str, name: str, other: list[re.Pattern[str]]):
    expect(page.locator("html")).to_have_attribute("lang", lang)
    html = page.content()
    leaked = [s for s in served.world.secrets if s and s in html]
    assert not leaked, f"{name}: unmasked personal data in the page"
    assert shown_in(page, other) == [], f"{name} ({lang}): strings of the other language"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"{name} ({lang}) scrolls sideways at 1366 px ({width} px)"
    header = page.locator("header")
    if header.count():
        height = header.evaluate("h => h.scrollHeight")
        assert height <= 48, f"{name} ({lang}): the header wraps ({height} px)"
    page.screenshot(path=str(SHOTS / f"i18n-{lang}-{name}.png"), full_page=True)


def test_every_page_reads_chinese_first_and_english_after_the_switch(
    served: Served, chromium, messages: dict[str, list[re.Pattern[str]]]
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium, served.url, language=None) as desk:
        desk.goto(served.url + "/")
        check(desk, served, "zh-CN", "login", messages["en"])
        desk.get_by_label("用户名").fill("otto")
        desk.get_by_label("密码").fill(PASSWORDS["otto"])
        desk.get_by_role("button", name="登录").click()
        desk.wait_for_url(served.url + "/")
        evidence = f"/evidence/{served.world.evidence_item}"
        for path in [*PAGES, evidence, "/no-such-page"]:
            desk.goto(served.url + path)
            name = path.strip("/").split("/")[0] or "overview"
            check(desk, served, "zh-CN", name, messages["en"])
        desk.goto(served.url + "/queues")
        expect(desk.get_by_role("heading", level=1)).to_have_text("工作队列")
        expect(desk.locator("#stuck")).to_contain_text("待人工处理")
        expect(desk.get_by_role("img", name="工作项（按类型和状态）")).to_be_visible()

        desk.goto(served.url + "/sources?hours=168")
        desk.get_by_role("link", name="English").click()
        desk.wait_for_url(served.url + "/sources?hours=168")  # back where it was clicked
        expect(desk.get_by_role("heading", level=1)).to_contain_text("last 168 h")
        for path in [*PAGES, evidence, "/no-such-page"]:
            desk.goto(served.url + path)
            name = path.strip("/").split("/")[0] or "overview"
            check(desk, served, "en", name, messages["zh-CN"])
        desk.goto(served.url + "/warnings")
        expect(desk.get_by_role("button", name="Acknowledge").first).to_be_visible()

        desk.get_by_role("link", name="中文").click()
        desk.wait_for_url(served.url + "/warnings")
        expect(desk.get_by_role("heading", level=1)).to_contain_text("预警")
        expect(desk.get_by_role("button", name="确认").first).to_be_visible()

    with browser_page(chromium, served.url, language=None) as stranger:
        stranger.goto(served.url + "/login")
        stranger.get_by_role("link", name="English").click()
        expect(stranger.get_by_role("button", name="Log in")).to_be_visible()
        check(stranger, served, "en", "login", messages["zh-CN"])
