"""Previews of the evidence a stuck work item points at, for operators.

Only what was written masked is ever shown: a bot's reason and its screenshot (masked on the
page before it was shot), or a connector's masked exchange. The Playwright trace and the raw
payloads hold the pages and answers as they were, so they are never served; a path outside
the evidence areas (a forged or stale error text) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings

PREVIEW_BYTES = 20_000


@dataclass(frozen=True)
class Preview:
    where: str
    text: str
    screenshot: Path | None


def _areas(settings: HubSettings) -> tuple[Path, ...]:
    return (
        settings.screen_evidence_dir.resolve(),
        (settings.data_dir / "evidence" / "masked").resolve(),
    )


def locate(settings: HubSettings, recorded: str | None) -> Path | None:
    """The evidence a work item names, if it exists inside one of the masked areas."""
    if not recorded:
        return None
    path = Path(recorded).resolve()
    if not any(path.is_relative_to(area) for area in _areas(settings)) or not path.exists():
        return None
    return path


def preview(settings: HubSettings, recorded: str | None) -> Preview | None:
    path = locate(settings, recorded)
    if path is None:
        return None
    if path.is_dir():  # a bot's capture: reason.txt, screen.png (and trace.zip, never served)
        reason = path / "reason.txt"
        text = reason.read_text(encoding="utf-8", errors="replace") if reason.exists() else ""
        shot = path / "screen.png"
        screenshot = shot if shot.exists() else None
    else:
        with path.open("rb") as f:
            text = f.read(PREVIEW_BYTES).decode("utf-8", "replace")
        screenshot = None
    # masked when written; masked again, in case a rule was added since
    return Preview(mask_text(str(path.name)), mask_text(text), screenshot)
