"""Previews of the evidence a stuck work item points at, for operators.

Only what was written masked is ever shown: a bot's reason and its screenshot (masked on the
page before it was shot), or a connector's masked exchange. The Playwright trace and the raw
payloads hold the pages and answers as they were, so they are never served.

Where the evidence is comes from the work item's own ``evidence`` column, which only the hub
writes (never from its error text, which carries a legacy system's words). Even so the path is
not trusted: it must resolve inside one of the masked areas (symlinks followed before the
check, so none leads out), a bot's capture is a folder and only its ``reason.txt`` and
``screen.png`` are read, each opened without following a symlink and only if it is a regular
file (a FIFO or a device never blocks the page), and a connector's masked file is a regular
file of the masked area. Anything else is "no evidence filed".
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings

PREVIEW_BYTES = 20_000
SCREENSHOT_BYTES = 10_000_000
"""A screenshot larger than this is not served (a capture is a few hundred kB)."""


@dataclass(frozen=True)
class Preview:
    where: str
    text: str
    screenshot: Path | None


def _screens(settings: HubSettings) -> Path:
    return settings.screen_evidence_dir.resolve()


def _masked(settings: HubSettings) -> Path:
    return (settings.data_dir / "evidence" / "masked").resolve()


def _inside(path: Path, area: Path) -> bool:
    return path != area and path.is_relative_to(area)


def locate(settings: HubSettings, recorded: str | None) -> Path | None:
    """The evidence a work item names, resolved, if it is a capture folder of the screen
    area or a regular file of the masked area; None otherwise (a forged, stale or odd path)."""
    if not recorded or "\x00" in recorded or not os.path.isabs(recorded):
        return None
    try:
        path = Path(recorded).resolve(strict=True)
        mode = path.stat().st_mode
    except (OSError, RuntimeError, ValueError):  # gone, a symlink loop, unreadable
        return None
    if _inside(path, _screens(settings)) and stat.S_ISDIR(mode):
        return path
    if _inside(path, _masked(settings)) and stat.S_ISREG(mode):
        return path
    return None


def read_regular(path: Path, limit: int) -> bytes | None:
    """At most ``limit`` bytes of ``path`` if it is a regular file reached without a symlink
    at its last step; None for anything else (a symlink planted beside the capture, a FIFO,
    a directory, a file over the limit when ``limit`` is a hard cap)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(limit)


def screenshot(settings: HubSettings, recorded: str | None) -> bytes | None:
    """The capture's masked screenshot, read as :func:`read_regular` allows; None if none."""
    folder = locate(settings, recorded)
    if folder is None or not folder.is_dir():
        return None
    data = read_regular(folder / "screen.png", SCREENSHOT_BYTES + 1)
    return data if data is not None and len(data) <= SCREENSHOT_BYTES else None


def preview(settings: HubSettings, recorded: str | None) -> Preview | None:
    path = locate(settings, recorded)
    if path is None:
        return None
    if path.is_dir():  # a bot's capture: reason.txt, screen.png (and trace.zip, never served)
        text = (read_regular(path / "reason.txt", PREVIEW_BYTES) or b"").decode("utf-8", "replace")
        shot = path / "screen.png"
        found = screenshot(settings, recorded) is not None
        return Preview(mask_text(path.name), mask_text(text), shot if found else None)
    data = read_regular(path, PREVIEW_BYTES)
    if data is None:
        return None
    # masked when written; masked again, in case a rule was added since
    return Preview(mask_text(path.name), mask_text(data.decode("utf-8", "replace")), None)
