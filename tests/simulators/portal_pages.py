"""Test-side helpers to reach the web simulators: plain HTTP sessions and browser logins."""

from __future__ import annotations

import re
import time

import pyotp
import requests
from playwright.sync_api import Frame, Page


def totp_now(endpoints: dict) -> str:
    return pyotp.TOTP(endpoints["ss_portal"]["totp_secret"]).now()


def away_from_step_boundary(margin: float = 3.0) -> None:
    """Wait until a 30 s TOTP step has at least ``margin`` seconds left."""
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.2)


def ss_http_login(
    endpoints: dict, code: str | None = None, password: str | None = None
) -> tuple[requests.Session, requests.Response]:
    creds = endpoints["ss_portal"]
    http = requests.Session()
    answer = http.post(
        creds["url"] + "login.do",
        timeout=10,
        data={
            "j_username": creds["username"],
            "j_password": password or creds["password"],
            "otp": code or totp_now(endpoints),
        },
    )
    return http, answer


def ss_browser_login(page: Page, endpoints: dict) -> Frame:
    """Log in through the real form; returns the content frame."""
    creds = endpoints["ss_portal"]
    page.goto(creds["url"])
    page.locator("input[name=j_username]").fill(creds["username"])
    page.locator("input[name=j_password]").fill(creds["password"])
    page.locator("input[name=otp]").fill(totp_now(endpoints))
    page.get_by_role("button", name="登 录").click()
    page.wait_for_url("**/main.do")
    content = page.frame(name="content")
    assert content is not None
    content.wait_for_load_state()
    return content


def los_users(endpoints: dict) -> list[dict]:
    """The LOS's users in the simulators' file: the hub's robot (0) and the checker (1), whom
    only the tests and development tools play (no connection of the hub's carries them)."""
    los = endpoints["los"]
    robot = {k: los[k] for k in ("username", "password", "limit")}
    return [robot, los["checker"]]


def los_user(endpoints: dict, index: int = 0) -> dict:
    return los_users(endpoints)[index]


def los_http_login(
    endpoints: dict, index: int = 0, password: str | None = None
) -> tuple[requests.Session, requests.Response]:
    user = los_user(endpoints, index)
    http = requests.Session()
    answer = http.post(
        endpoints["los"]["url"] + "login",
        timeout=10,
        data={"username": user["username"], "password": password or user["password"]},
    )
    return http, answer


def los_decide(
    http: requests.Session, endpoints: dict, number: str, **fields: str
) -> requests.Response:
    """Open the application page (for its form token), then post the decision as a browser would."""
    page = http.get(endpoints["los"]["url"] + "app", params={"no": number}, timeout=10)
    token = re.search(
        r'name="org.apache.struts.taglib.html.TOKEN" value="(\w+)"', page.content.decode("gbk")
    )
    data = {
        "no": number,
        "decision": "APPROVE",
        "amount": "100000.00",
        "term": "36",
        "rate": "4.35",
        "conditions": "",
        "comment": "",
        "org.apache.struts.taglib.html.TOKEN": token.group(1) if token else "",
        **fields,
    }
    body = "&".join(f"{k}={requests.utils.quote(v.encode('gbk'))}" for k, v in data.items())
    return http.post(
        endpoints["los"]["url"] + "decide",
        data=body,
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
