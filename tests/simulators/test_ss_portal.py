import csv
import io
import subprocess
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.simulators.portal_pages import (
    away_from_step_boundary,
    ss_browser_login,
    ss_http_login,
)


def person_with_history(sim_dataset, months: int = 25):
    return next(p for p in sim_dataset.persons if len(p.contributions) >= months)


# -- the server contract, over plain HTTP ------------------------------------------------------


def test_pages_are_gbk_on_the_wire(sim, sim_endpoints):
    import requests

    answer = requests.get(sim_endpoints["ss_portal"]["url"] + "login.do", timeout=10)
    assert answer.headers["Content-Type"] == "text/html; charset=GBK"
    assert "动态口令".encode("gbk") in answer.content
    assert "动态口令".encode() not in answer.content
    assert b'content="text/html; charset=GBK"' in answer.content


def test_totp_is_accepted_for_this_and_the_previous_step_only(sim, sim_endpoints):
    totp = pyotp.TOTP(sim_endpoints["ss_portal"]["totp_secret"])
    away_from_step_boundary()
    now = time.time()
    cases = [
        (totp.at(now - 30), True),
        (totp.at(now - 60), False),
        (totp.at(now + 30), False),
        (totp.at(now), True),
        ("12345", False),
    ]
    for code, accepted in cases:
        _, answer = ss_http_login(sim_endpoints, code=code)
        assert answer.url.endswith("main.do") is accepted, (code, answer.url)
        if not accepted:
            assert "动态口令错误" in answer.content.decode("gbk")


def test_the_account_locks_after_repeated_failures(sim, sim_endpoints):
    sim.controls({"ss": {"login": {"lock_after": 3}}})
    for left in (2, 1):
        _, answer = ss_http_login(sim_endpoints, password="wrong")
        assert f"还可尝试 {left} 次" in answer.content.decode("gbk")
    _, answer = ss_http_login(sim_endpoints, password="wrong")
    assert "账户已锁定" in answer.content.decode("gbk")
    _, answer = ss_http_login(sim_endpoints)  # even the right password now
    assert "账户已锁定" in answer.content.decode("gbk")
    assert [e["locked"] for e in sim.journal("ss", "login")] == [False, False, True, True]


def test_malformed_requests_get_the_legacy_error_page(sim, sim_endpoints):
    http, _ = ss_http_login(sim_endpoints)
    url = sim_endpoints["ss_portal"]["url"]
    for answer in (
        http.get(url + "query.do?page=abc", timeout=10),
        http.get(url + "query.do?page=2", timeout=10),  # no search yet
        http.get(url + "nosuch.do", timeout=10),
        http.post(
            url + "query.do",
            data=b"aac002=%FF%FF&aac003=x",
            timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ):
        assert answer.status_code == 200
        assert "系统错误" in answer.content.decode("gbk")
    assert http.get(url + "welcome.do", timeout=10).status_code == 200


def test_busy_page_is_status_200(sim, sim_endpoints):
    http, _ = ss_http_login(sim_endpoints)
    sim.controls({"ss": {"/query.do": {"rate": 1.0}}})
    answer = http.get(sim_endpoints["ss_portal"]["url"] + "query.do", timeout=10)
    assert answer.status_code == 200
    assert "系统繁忙，请稍后再试" in answer.content.decode("gbk")


# -- in the browser ----------------------------------------------------------------------------


def test_search_pages_through_the_history_ten_rows_at_a_time(
    sim, sim_endpoints, sim_dataset, page: Page
):
    person = person_with_history(sim_dataset)
    content = ss_browser_login(page, sim_endpoints)
    page.frame(name="menu").get_by_role("link", name="参保缴费查询").click()
    content.wait_for_selector("input[name=aac002]")
    content.locator("input[name=aac002]").fill(person.id_number)
    content.locator("input[name=aac003]").fill(person.name)
    content.get_by_role("button", name="查 询").click()
    months = []
    while True:
        table = content.locator("table").filter(has_text="缴费年月").last
        table.wait_for()
        rows = table.locator("tr").all()[1:]
        assert len(rows) <= 10
        months += [r.locator("td").nth(1).inner_text() for r in rows]
        next_link = content.get_by_role("link", name="下一页")
        if next_link.count() == 0:
            break
        first = rows[0].inner_text()
        next_link.click()
        # the next page is there once its first row is another month (a load-state wait can
        # return on the page still showing, and a busy machine then reads a page twice)
        newest = content.locator("table").filter(has_text="缴费年月").last.locator("tr").nth(1)
        expect(newest).not_to_have_text(first)
    expected = sorted((c.month for c in person.contributions), reverse=True)
    assert months == expected


def test_export_downloads_the_whole_history_as_gbk_csv(sim, sim_endpoints, sim_dataset, page: Page):
    person = person_with_history(sim_dataset)
    content = ss_browser_login(page, sim_endpoints)
    content.goto(sim_endpoints["ss_portal"]["url"] + "query.do")
    content.locator("input[name=aac002]").fill(person.id_number)
    content.locator("input[name=aac003]").fill(person.name)
    content.get_by_role("button", name="查 询").click()
    with page.expect_download() as download:
        content.get_by_role("button", name="导 出").click()
    raw = open(download.value.path(), "rb").read()  # noqa: SIM115
    rows = list(csv.reader(io.StringIO(raw.decode("gbk"))))
    assert rows[0][0] == "缴费年月"
    assert len(rows) - 1 == len(person.contributions)
    assert sim.journal("ss", "export")[0]["rows"] == len(person.contributions)


def test_the_notice_modal_blocks_clicks_until_closed(sim, sim_endpoints, page: Page):
    sim.controls({"ss": {"/welcome.do": {"notice_rate": 1.0}}})
    content = ss_browser_login(page, sim_endpoints)
    expect(content.get_by_text("系统公告")).to_be_visible()
    content.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<a href=\"query.do\">go</a>')"
    )  # a link under the overlay
    with pytest.raises(PlaywrightTimeout):
        content.get_by_role("link", name="go").click(timeout=1500)
    content.get_by_role("button", name="关 闭").click()
    content.get_by_role("link", name="go").click(timeout=3000)
    content.wait_for_selector("input[name=aac002]")


def test_an_idle_session_expires_and_the_login_breaks_out_of_the_frames(
    sim, sim_endpoints, page: Page
):
    sim.controls({"ss": {"session": {"idle_seconds": 1}}})
    ss_browser_login(page, sim_endpoints)
    time.sleep(1.5)
    page.frame(name="menu").get_by_role("link", name="参保缴费查询").click()
    page.wait_for_url("**/login.do")
    expect(page.locator("input[name=otp]")).to_be_visible()
    assert sim.journal("ss", "session_expired")


def test_the_layout_variant_renames_labels_and_reorders_columns(
    sim, sim_endpoints, sim_dataset, page: Page
):
    sim.controls({"ss": {"layout": {"variant": True}}})
    person = person_with_history(sim_dataset)
    content = ss_browser_login(page, sim_endpoints)
    content.goto(sim_endpoints["ss_portal"]["url"] + "query.do")
    expect(content.get_by_text("公民身份号码")).to_be_visible()
    assert content.get_by_text("身份证号码").count() == 0
    content.locator("input[name=aac002]").fill(person.id_number)
    content.locator("input[name=aac003]").fill(person.name)
    content.get_by_role("button", name="检 索").click()
    content.get_by_text("费款所属期").wait_for()
    header = content.locator("tr").filter(has_text="序号").first.locator("td").all_inner_texts()
    assert header[:3] == ["序号", "费款所属期", "缴费标志"]


def test_chinese_renders_in_screenshots(sim, sim_endpoints, page: Page, tmp_path):
    """Missing glyphs render as identical boxes: two different words would look the same."""
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    assert "WenQuanYi Micro Hei" in fonts.stdout
    page.goto(sim_endpoints["ss_portal"]["url"])
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', "
        '\'<span id=a style="font-size:40px">社会保险</span>'
        '<span id=b style="font-size:40px">缴费查询</span>\')'
    )
    first = page.locator("#a").screenshot()
    second = page.locator("#b").screenshot()
    assert first != second
    page.screenshot(path=str(tmp_path / "login.png"))


@pytest.mark.parametrize(("password", "code"), [("密码", None), (None, "１２３４５６")])
def test_non_ascii_input_gets_the_error_page(sim, sim_endpoints, password, code):
    _, answer = ss_http_login(sim_endpoints, code=code, password=password)
    assert answer.status_code == 200
    assert "错误" in answer.content.decode("gbk")


def test_session_expired_fault_sends_the_next_page_to_the_login(sim, sim_endpoints):
    """``skip`` lets calls through first, so a test can expire the session mid-way."""
    http, _ = ss_http_login(sim_endpoints)
    url = sim_endpoints["ss_portal"]["url"]
    sim.controls({"ss": {"/query.do": {"fault": "session_expired", "skip": 1, "times": 1}}})
    assert "参保缴费查询" in http.get(url + "query.do", timeout=10).content.decode("gbk")
    expired = http.get(url + "query.do", timeout=10)
    assert expired.url.endswith("/login.do")
    assert http.get(url + "welcome.do", timeout=10).url.endswith("/login.do")  # gone for good
    assert sim.journal("ss", "session_expired")


def test_the_captcha_makes_every_login_fail(sim, sim_endpoints):
    sim.controls({"ss": {"/login.do": {"captcha": True}}})
    import requests

    page = requests.get(sim_endpoints["ss_portal"]["url"] + "login.do", timeout=10)
    assert "验证码".encode("gbk") in page.content
    _, answer = ss_http_login(sim_endpoints)
    assert answer.url.endswith("login.do")
    assert "main.do" not in answer.url
