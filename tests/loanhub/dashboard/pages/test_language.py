"""The language of a page: Chinese on a first visit (whatever the browser's Accept-Language
says), English after the switch, kept in a cookie scoped to the mount point, links built from
the mount inside Airflow, a setting for the default; and error pages in the page's language
for browsers, JSON for scripts."""

from __future__ import annotations

from http.cookies import SimpleCookie

from loanhub.dashboard.i18n import COOKIE
from tests.loanhub.dashboard.pages.conftest import sign_in


def test_a_first_visit_reads_chinese_even_from_an_english_browser(client_for):
    client = client_for(language=None)
    login = client.get("/login", headers={"accept-language": "en-US,en;q=0.9"})
    assert '<html lang="zh-CN">' in login.text
    assert login.headers["content-language"] == "zh-CN"
    assert ">用户名</label>" in login.text
    assert ">User<" not in login.text
    sign_in(client, "otto")
    page = client.get("/queues")
    assert '<html lang="zh-CN">' in page.text
    assert ">工作队列</h1>" in page.text
    assert "otto (操作员)" in page.text
    assert ">退出登录</button>" in page.text
    assert ">待人工处理</div>" in page.text  # the NEEDS_HUMAN tile: its label


def test_the_switch_keeps_english_in_a_cookie_and_comes_back_to_the_page(client_for):
    client = client_for(language=None)
    sign_in(client, "vera")
    page = client.get("/sources", params={"hours": 168})
    switch = 'href="/language/en?next=/sources%3Fhours%3D168"'
    assert switch in page.text
    answer = client.get("/language/en", params={"next": "/sources?hours=168"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sources?hours=168"
    morsel = SimpleCookie(answer.headers["set-cookie"])[COOKIE]
    assert morsel.value == "en"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) >= 300 * 24 * 3600
    english = client.get("/sources", params={"hours": 168})
    assert '<html lang="en">' in english.text
    assert english.headers["content-language"] == "en"
    assert "last 168 h</span>" in english.text
    assert 'href="/language/zh-CN?next=/sources%3Fhours%3D168"' in english.text
    client.get("/language/zh-CN", params={"next": "/sources"})
    assert "最近 168 小时</span>" in client.get("/sources", params={"hours": 168}).text


def test_the_switch_goes_nowhere_else_and_knows_its_languages(client_for):
    client = client_for(language=None)
    assert client.get("/language/fr").status_code == 404
    assert COOKIE not in client.cookies
    away = client.get("/language/en", params={"next": "//evil.example/"})
    assert away.headers["location"] == "/"
    client.cookies.clear()
    client.cookies.set(COOKIE, "fr")  # a cookie from elsewhere: the default, not an error
    assert '<html lang="zh-CN">' in client.get("/login").text


def test_mounted_the_switch_and_its_cookie_live_under_the_mount(client_for):
    client = client_for(mount="/loanhub", language=None)
    sign_in(client, "vera", "/loanhub")
    page = client.get("/loanhub/warnings")
    assert 'href="/loanhub/language/en?next=/loanhub/warnings"' in page.text
    answer = client.get("/loanhub/language/en", params={"next": "/loanhub/warnings"})
    assert answer.headers["location"] == "/loanhub/warnings"
    assert SimpleCookie(answer.headers["set-cookie"])[COOKIE]["path"] == "/loanhub"
    assert (
        "/sources"
        not in client.get("/loanhub/language/en", params={"next": "/sources"}).headers["location"]
    )  # outside the mount: home instead
    assert '<html lang="en">' in client.get("/loanhub/warnings").text


def test_the_default_language_is_a_setting(client_for, hub):
    english = hub.settings.model_copy(
        update={"dashboard": hub.settings.dashboard.model_copy(update={"language": "en"})}
    )
    client = client_for(english, language=None)
    assert '<html lang="en">' in client.get("/login").text
    client.cookies.set(COOKIE, "zh-CN")
    assert '<html lang="zh-CN">' in client.get("/login").text


def test_a_browser_gets_an_error_page_in_its_language_a_script_json(client_for):
    client = client_for(language=None)
    sign_in(client, "vera")
    browser = {"accept": "text/html,application/xhtml+xml"}
    refused = client.get("/evidence/1", headers=browser)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "无权访问" in refused.text
    assert "仅限操作员" in refused.text
    assert 'href="/language/en?next=/evidence/1"' in refused.text
    assert client.get("/evidence/1").json() == {"detail": "operators only"}
    missing = client.get("/no-such-page", headers=browser)
    assert missing.status_code == 404
    assert "未找到" in missing.text
    assert "Not Found" not in missing.text
    client.cookies.set(COOKIE, "en")
    assert "operators only" in client.get("/evidence/1", headers=browser).text
    stale = client.post("/logout", data={"csrf": "forged"}, headers=browser)
    assert stale.status_code == 403
    assert "the form is stale: reload the page" in stale.text


def test_a_login_failure_is_said_in_chinese(client_for):
    client = client_for(language=None)
    form = client.get("/login").text
    csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    wrong = client.post("/login", data={"username": "vera", "password": "nope", "csrf": csrf})
    assert wrong.status_code == 401
    assert "用户名或密码错误。" in wrong.text
