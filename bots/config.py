"""Typed configuration of the bots: where the browser is, how long to wait, whom to log in as.

The hub fills these from its endpoints file or, in a DAG, from an Airflow Connection at run
time; a bot never reads the environment itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from kernel.failures import RetryPolicy

CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


class BrowserConfig(BaseModel):
    """The system Chromium (no browser downloads at run time) and the bots' patience."""

    executable_path: Path = Path("/usr/bin/chromium")
    args: tuple[str, ...] = CHROMIUM_ARGS
    headless: bool = True
    action_timeout: float = Field(
        default=15.0, gt=0, description="longest wait for an element, seconds"
    )
    navigation_timeout: float = Field(
        default=30.0, gt=0, description="longest wait for a page: the portals take 1-3 s a page"
    )
    trace: bool = Field(default=True, description="record a Playwright trace, kept on failure")
    trace_snapshots: bool = Field(
        default=False,
        description="add DOM snapshots to the trace: ~140 ms more per portal lookup here; the "
        "trace's screenshots and network log (every page's HTML) usually tell the story",
    )

    def launch_args(self, euid: int | None = None) -> list[str]:
        """The arguments Chromium is launched with: ``args``, plus ``--no-sandbox`` only for
        root (``euid`` 0, this process's by default), whom Chromium refuses to sandbox.

        The portals' pages are untrusted input to the browser; its sandbox is what keeps a
        compromised renderer away from the worker's files (the store's credentials, the
        evidence), so it is never given up where it can run: the image runs as a non-root
        user. A ``--no-sandbox`` in ``args`` is dropped for anyone but root."""
        root = (os.geteuid() if euid is None else euid) == 0
        args = [a for a in self.args if a != "--no-sandbox"]
        return ["--no-sandbox", *args] if root else args


class PortalLogin(BaseModel):
    """The social-security portal: an institution user with the bank's TOTP token."""

    model_config = ConfigDict(extra="ignore")

    url: str
    username: str
    password: SecretStr
    totp_secret: SecretStr


class LosLogin(BaseModel):
    """One LOS user; decisions above ``limit`` wait for a second user (maker-checker)."""

    model_config = ConfigDict(extra="ignore")

    url: str
    username: str
    password: SecretStr


class ScreenPolicy(BaseModel):
    """How a bot treats a slow or tired legacy application: back off on the busy page a bounded
    number of times, log in again at most once per task after a session expiry."""

    busy: RetryPolicy = RetryPolicy(attempts=4, base_seconds=1.0, cap_seconds=8.0)
    relogins: int = Field(default=1, ge=0)
