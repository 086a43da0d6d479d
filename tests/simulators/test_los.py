import re

from playwright.sync_api import Page, expect

from tests.simulators.portal_pages import los_decide, los_http_login, los_user


def application(sim_dataset, n: int = 0):
    return sim_dataset.applications[n]


def browser_login(page: Page, endpoints: dict, index: int = 0) -> None:
    user = los_user(endpoints, index)
    page.goto(endpoints["los"]["url"])
    page.get_by_label("用户名").fill(user["username"])
    page.get_by_label("密码").fill(user["password"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/search")


def open_application(page: Page, number: str) -> None:
    page.get_by_label("申请编号").fill(number)
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_text("申请信息")).to_be_visible()


def fill_approval(page: Page, amount: str) -> None:
    page.get_by_label("批准", exact=True).check()
    page.get_by_label("批准金额（元）").fill(amount)
    page.get_by_label("年利率（%）").fill("4.35")
    page.get_by_label("审批意见").fill("同意")


def decisions(sim, number: str) -> list[dict]:
    return [e for e in sim.journal("los", "decision") if e["application_no"] == number]


def test_approval_through_the_confirm_dialog_shows_the_reference(
    sim, sim_endpoints, sim_dataset, page: Page
):
    number = application(sim_dataset, 0).application_no
    browser_login(page, sim_endpoints)
    open_application(page, number)
    fill_approval(page, "100000.00")
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_text("提交成功")).to_be_visible()
    reference = page.locator("tr", has_text="审批流水号").locator("td").nth(1).inner_text()
    assert re.fullmatch(r"SP\d{14}", reference)
    assert "确认提交审批意见" in dialogs[0]
    (decision,) = decisions(sim, number)
    assert decision["reference"] == reference
    assert decision["user"] == los_user(sim_endpoints)["username"]
    assert decision["status"] == "APPROVED"


def test_dismissing_the_confirm_submits_nothing(sim, sim_endpoints, sim_dataset, page: Page):
    number = application(sim_dataset, 1).application_no
    browser_login(page, sim_endpoints)
    open_application(page, number)
    fill_approval(page, "50000.00")
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_text("申请信息")).to_be_visible()
    assert decisions(sim, number) == []


def test_504_after_commit_records_exactly_one_decision(sim, sim_endpoints, sim_dataset, page: Page):
    sim.controls({"los": {"/decide": {"gateway_504_rate": 1.0}}})
    number = application(sim_dataset, 2).application_no
    browser_login(page, sim_endpoints)
    open_application(page, number)
    fill_approval(page, "80000.00")
    page.once("dialog", lambda d: d.accept())
    with page.expect_response("**/decide") as answer:
        page.get_by_role("button", name="提交").click()
    assert answer.value.status == 504
    expect(page.get_by_text("504 Gateway Time-out")).to_be_visible()
    (decision,) = decisions(sim, number)
    page.goto(sim_endpoints["los"]["url"] + f"status?no={number}")
    expect(page.get_by_text(decision["reference"])).to_be_visible()
    expect(page.locator("td", has_text="已批准").first).to_be_visible()


def test_a_blind_resubmit_records_a_second_decision(sim, sim_endpoints, sim_dataset):
    """The trap the LOS bot must avoid: the LOS itself does not refuse a second decision."""
    number = application(sim_dataset, 3).application_no
    http, _ = los_http_login(sim_endpoints)
    sim.controls({"los": {"/decide": {"gateway_504_rate": 1.0}}})
    assert los_decide(http, sim_endpoints, number).status_code == 504
    sim.controls({"los": {"/decide": {"gateway_504_rate": 0.0}}})
    assert los_decide(http, sim_endpoints, number).status_code == 200
    assert len(decisions(sim, number)) == 2


def test_above_the_users_limit_waits_for_a_second_user(sim, sim_endpoints, sim_dataset):
    number = application(sim_dataset, 4).application_no
    maker, _ = los_http_login(sim_endpoints, 0)
    answer = los_decide(maker, sim_endpoints, number, amount="900000.00")  # limit 500,000
    assert "待复核" in answer.content.decode("gbk")
    status = maker.get(sim_endpoints["los"]["url"] + "status", params={"no": number}, timeout=10)
    assert "待复核" in status.content.decode("gbk")
    own = los_decide(maker, sim_endpoints, number, amount="900000.00")
    assert "不能复核本人提交的审批" in own.content.decode("gbk")
    checker, _ = los_http_login(sim_endpoints, 1)
    answer = los_decide(checker, sim_endpoints, number, amount="900000.00")
    assert "已批准" in answer.content.decode("gbk")
    assert [d["status"] for d in decisions(sim, number)] == ["PENDING_REVIEW", "APPROVED"]
    assert [d["pending_review"] for d in decisions(sim, number)] == [True, False]


def test_malformed_posts_get_the_legacy_error_page(sim, sim_endpoints, sim_dataset):
    number = application(sim_dataset, 5).application_no
    http, _ = los_http_login(sim_endpoints)
    url = sim_endpoints["los"]["url"]
    cases = [
        los_decide(http, sim_endpoints, number, amount="一百万"),
        los_decide(http, sim_endpoints, number, amount="NaN"),
        los_decide(http, sim_endpoints, number, amount="sNaN"),
        los_decide(http, sim_endpoints, number, amount="Infinity"),
        los_decide(http, sim_endpoints, number, rate="NaN"),
        los_decide(http, sim_endpoints, number, decision="MAYBE"),
        los_decide(http, sim_endpoints, number, term="7"),
        los_decide(http, sim_endpoints, number, **{"org.apache.struts.taglib.html.TOKEN": "x"}),
        http.post(
            url + "decide",
            data=b"no=%FF%FE",
            timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        http.get(url + "app", params={"no": "NOPE"}, timeout=10),
    ]
    for answer in cases:
        assert answer.status_code == 200
        assert "系统错误" in answer.content.decode("gbk")
    assert decisions(sim, number) == []


def test_wrong_password_locks_the_account(sim, sim_endpoints):
    sim.controls({"los": {"login": {"lock_after": 2}}})
    _, answer = los_http_login(sim_endpoints, password="bad")
    assert "用户名或密码错误" in answer.content.decode("gbk")
    _, answer = los_http_login(sim_endpoints, password="bad")
    assert "账户已锁定" in answer.content.decode("gbk")
    _, answer = los_http_login(sim_endpoints)
    assert answer.url.endswith("/login")
    assert "账户已锁定" in answer.content.decode("gbk")


def test_non_ascii_credentials_get_the_error_page(sim, sim_endpoints):
    _, answer = los_http_login(sim_endpoints, password="密码")
    assert answer.status_code == 200
    assert "用户名或密码错误" in answer.content.decode("gbk")


def test_the_layout_variant_takes_the_amount_in_wan_yuan(sim, sim_endpoints, sim_dataset):
    """Why a bot must fail fast on a changed screen: yuan typed into 万元 is 10,000 times more."""
    number = application(sim_dataset, 6).application_no
    sim.controls({"los": {"*": {"variant": True}}})
    http, _ = los_http_login(sim_endpoints, 1)
    page = http.get(sim_endpoints["los"]["url"] + "app", params={"no": number}, timeout=10)
    assert "批准金额（万元）" in page.content.decode("gbk")
    los_decide(http, sim_endpoints, number, amount="12.5")
    assert decisions(sim, number)[-1]["amount"] == "125000.0"


def test_a_held_answer_comes_late_but_the_decision_is_on_the_status_page_at_once(
    sim, sim_endpoints, sim_dataset
):
    """``hold_seconds``: the window in which a client killed after its submit never hears of a
    decision the LOS has recorded (the LOS crash points are swept in devtools/crash_sweep_los)."""
    import threading
    import time

    number = application(sim_dataset, 7).application_no
    sim.controls({"los": {"/decide": {"hold_seconds": 1.5}}})
    http, _ = los_http_login(sim_endpoints)
    answers: list = []
    started = time.monotonic()
    poster = threading.Thread(
        target=lambda: answers.append(los_decide(http, sim_endpoints, number))
    )
    poster.start()
    while not sim.journal("los", "decision_held") and time.monotonic() - started < 5:
        time.sleep(0.05)
    (held,) = sim.journal("los", "decision_held")
    reader, _ = los_http_login(sim_endpoints, 1)
    status = reader.get(sim_endpoints["los"]["url"] + "status", params={"no": number}, timeout=10)
    assert held["reference"] in status.content.decode("gbk")
    assert not answers  # the poster has not heard yet
    poster.join(10)
    assert answers[0].status_code == 200
    assert time.monotonic() - started >= 1.5
    assert len(decisions(sim, number)) == 1


def test_a_companys_application_shows_its_kind_and_guarantor(sim, sim_endpoints, sim_dataset):
    guaranteed = next(a for a in sim_dataset.applications[80:] if a.guarantor_name)
    http, _ = los_http_login(sim_endpoints)
    page = http.get(
        sim_endpoints["los"]["url"] + "app", params={"no": guaranteed.application_no}, timeout=10
    ).content.decode("gbk")
    assert guaranteed.applicant_name in page
    assert "企业" in page
    assert guaranteed.guarantor_name in page
