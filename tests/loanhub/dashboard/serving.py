"""The standalone dashboard served for a test: a real uvicorn on a free loopback port, in a
thread of the test process (so a test can read the store it writes), with the two users the
page tests log in as. One place for what four fixtures had each written out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from devtools.cluster import free_port
from loanhub.dashboard.app import create_app
from loanhub.dashboard.auth import Role, UserBook
from loanhub.runtime.settings import HubSettings

PASSWORDS = {"vera": "Viewer-pass-2026", "otto": "Operator-pass-2026"}


def add_users(settings: HubSettings) -> None:
    """vera, a viewer; otto, an operator (passwords in ``PASSWORDS``)."""
    users = UserBook(settings.dashboard_users_path)
    users.put("vera", Role.VIEWER, PASSWORDS["vera"])
    users.put("otto", Role.OPERATOR, PASSWORDS["otto"])


@contextmanager
def serving(settings: HubSettings, *, users: bool = True) -> Iterator[str]:
    """The dashboard on ``settings`` at ``http://127.0.0.1:<port>`` until the block ends."""
    if users:
        add_users(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
