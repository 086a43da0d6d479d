"""The evidence an operator may open about one application: what its work items filed (a bot's
masked capture, a connector's masked exchange), the screen bots' captures for it or its
applicant, and where each fact's raw payload is kept (the connectors' evidence store by hash,
or the file it came in), and whether it still is. Raw payloads are only ever named here,
never shown: they hold personal data as received."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loanhub.platform.masking import mask_text

if TYPE_CHECKING:
    from loanhub.flows.casefile.facts import FactRecord
    from loanhub.flows.casefile.model import WorkItemRow


@dataclass(frozen=True)
class Evidence:
    """What an operator can open or ask for: a work item's filed evidence (a bot's masked
    capture, a connector's masked exchange), a bot's screen capture when it stopped, or a raw
    payload kept by hash."""

    what: str
    reference: str
    work_item: int | None = None  # the dashboard's /evidence/<id> shows it
    kept: bool | None = None  # whether it is still there (None: not looked for)
    detail: str = ""


def screens(root: Path | None, number: str, applicant: str) -> tuple[Evidence, ...]:
    """The captures the screen bots filed when they stopped on this application (the LOS)
    or its applicant (the social-security portal), newest first, with their masked reason."""
    if root is None or not (root / ".key").exists():  # no bot ever filed anything here
        return ()
    from bots.evidence import ScreenEvidence  # Playwright loads only when there is evidence

    screens = ScreenEvidence(root, mask_text)
    found = []
    for kind, key in (("ss_history", applicant), ("los_decision", number), ("los_status", number)):
        for capture in sorted(screens.folder(kind, key).glob("*/reason.txt"), reverse=True):
            lines = dict(
                line.split(": ", 1)
                for line in capture.read_text(encoding="utf-8", errors="replace").splitlines()
                if ": " in line
            )
            shot = "screenshot" if (capture.parent / "screen.png").exists() else "no screenshot"
            found.append(
                Evidence(
                    f"screen capture ({kind})",
                    str(capture.parent),
                    kept=True,
                    detail=f"{lines.get('reason', '')} ({shot})",
                )
            )
    return tuple(found)


def listed(
    items: list[WorkItemRow],
    found: tuple[FactRecord, ...],
    root: Path | None,
    files: dict[str, str | None],
) -> tuple[Evidence, ...]:
    filed = [
        Evidence(f"{i.kind} {i.state}", i.evidence, i.id) for i in items if i.evidence is not None
    ]
    stuck = [
        Evidence(f"{i.kind} {i.state}", i.business_key, i.id, detail=i.error or "")
        for i in items
        if i.evidence is None and i.state in ("NEEDS_HUMAN", "IN_DOUBT", "FAILED")
    ]
    raw = {
        (f.trace.source_system, f.trace.raw_payload_hash): f.kind
        for f in found
        if f.trace.source_system != "hub"
    }
    kept = [
        raw_payload(system, kind, digest, root, files)
        for (system, digest), kind in sorted(raw.items())
    ]
    return tuple(filed + stuck + kept)


def raw_payload(
    system: str, kind: str, digest: str, root: Path | None, files: dict[str, str | None]
) -> Evidence:
    """Where a fact's raw payload is: the connectors' evidence store (by hash), or the file it
    came in, kept where its receipt says; ``kept`` False when it is in neither (a bot's answer
    is read from the screen and kept only as facts)."""
    what = f"raw {system} payload ({kind})"
    if files.get(digest):
        where = str(files[digest])
        return Evidence(what, where, kept=Path(where).exists(), detail=f"sha256 {digest}")
    if root is None:
        return Evidence(what, digest)
    return Evidence(what, digest, kept=(root / "raw" / digest[:2] / digest).exists())
