"""A web application's login page, fetched as a browser would first (the "Test" of the portal
and LOS connections): a plain GET, no login attempted, so no failed-login count is spent."""

from __future__ import annotations

import re

import requests

PASSWORD_FIELD = re.compile(r"type\s*=\s*[\"']?password", re.IGNORECASE)


def login_page_loads(url: str, timeout: float = 10.0) -> tuple[bool, str]:
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException as exc:
        return False, f"{url} not reachable: {exc}"
    if response.status_code >= 400:
        return False, f"{url} answered HTTP {response.status_code}"
    if not PASSWORD_FIELD.search(response.text):
        return False, f"{response.url} answered, but shows no login form"
    return True, f"login page {response.url} loads (HTTP {response.status_code})"
