"""Evidence a person can read when a bot stops: a screenshot with personal data masked on the
page itself, what the bot was doing and why it stopped, and the Playwright trace.

Kept only on failure, filed under the work item (kind and a hash of the business key, so that
no ID number appears in a path), and purged by age. The trace holds the pages as they were
(unmasked DOM snapshots), so it is written owner-only, like the raw payloads of the connectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from kernel.failures import Masker
from kernel.files import private_dir, tighten, write_private

_COLLECT = """() => {
  const texts = [];
  const nodes = [];
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const v = walker.currentNode.nodeValue;
    if (v && v.trim()) { nodes.push(walker.currentNode); texts.push(v); }
  }
  for (const el of document.querySelectorAll('input, textarea')) {
    if (el.value) { nodes.push(el); texts.push(el.value); }
  }
  window.__loanhubMask = nodes;
  return texts;
}"""

_BY_LABEL = """(labels) => {
  // the cell after a label cell (申请人 | 宋娜霞): the value is personal whatever it looks like
  for (const cell of document.querySelectorAll('td, th')) {
    const label = cell.innerText.trim().replace(/[：:\\s]+$/, '');
    const value = cell.nextElementSibling;
    if (labels.includes(label) && value) {
      const text = value.innerText.trim();
      value.innerText = text ? text.slice(0, 1) + '*'.repeat(Math.max(text.length - 1, 1)) : '';
    }
  }
}"""

PERSONAL_LABELS = (
    "申请人",
    "姓名",
    "参保人姓名",
    "证件号码",
    "身份证号码",
    "公民身份号码",
    "手机号码",
)

_APPLY = """(masked) => {
  const nodes = window.__loanhubMask || [];
  masked.forEach((text, i) => {
    const node = nodes[i];
    if (!node) return;
    if (node.nodeType === Node.TEXT_NODE) node.nodeValue = text; else node.value = text;
  });
  delete window.__loanhubMask;
}"""


def _hide(value: str) -> str:
    """A value the bot was given (a name, say): keep its first character, hide the rest."""
    return value[:1] + "*" * (len(value) - 1)


class ScreenEvidence:
    def __init__(self, root: Path, mask: Masker) -> None:
        self.root = root
        self.mask = mask
        self._secret: bytes | None = None

    def folder(self, kind: str, key: str) -> Path:
        """Where a work item's evidence goes: named by kind and a keyed hash of the business key
        (an ID number has too little entropy for a plain hash to hide it)."""
        digest = hmac.new(self._key(), key.encode(), hashlib.sha256).hexdigest()[:24]
        return self.root / kind / digest

    def _key(self) -> bytes:
        """The store's own secret, made on first use and kept owner-only beside the evidence."""
        if self._secret is None:
            path = self.root / ".key"
            if not path.exists():
                private_dir(self.root)
                temp = self.root / f".key.{os.getpid()}.tmp"
                write_private(temp, secrets.token_bytes(32))
                with contextlib.suppress(FileExistsError):
                    os.link(temp, path)  # the first writer wins; everyone reads its key
                temp.unlink()
            self._secret = path.read_bytes()
        return self._secret

    def capture(
        self,
        page: Page,
        context: BrowserContext,
        *,
        kind: str,
        key: str,
        reason: str,
        sensitive: Iterable[str] = (),
        trace: bool = True,
    ) -> Path:
        """Mask every frame's text, take the screenshot, keep the trace chunk and the reason.

        Best effort by design: a page that cannot be masked (closed, crashed) is not shot at all
        rather than shot unmasked; the reason is always written.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        folder = self.folder(kind, key) / stamp
        private_dir(folder)  # and the kind's and the key's folders above it
        given = [s for s in sensitive if s]
        notes = [f"kind: {kind}", f"key: {self._masked(key, given)}", f"reason: {reason}"]
        try:
            notes.append(f"url: {page.url}")
            for frame in page.frames:
                frame.evaluate(_BY_LABEL, list(PERSONAL_LABELS))
                texts = frame.evaluate(_COLLECT)
                frame.evaluate(_APPLY, [self._masked(t, given) for t in texts])
            page.screenshot(path=str(folder / "screen.png"), full_page=True)
            tighten(folder / "screen.png")  # written by the browser's driver, its own umask
        except PlaywrightError as exc:
            notes.append(f"no screenshot: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        if trace:
            try:
                kept = folder / "trace.zip"
                context.tracing.stop_chunk(path=str(kept))
                tighten(kept)
            except PlaywrightError:
                notes.append("no trace: tracing was not running")
        else:
            notes.append("no trace: tracing was off")
        write_private(
            folder / "reason.txt", (self._masked("\n".join(notes), given) + "\n").encode("utf-8")
        )
        return folder

    def _masked(self, text: str, given: list[str]) -> str:
        text = self.mask(text)
        for value in given:
            text = text.replace(value, _hide(value))
        return text

    def purge(self, older_than: timedelta, now: float | None = None) -> int:
        """Drop captures older than ``older_than``; returns how many went."""
        limit = (now if now is not None else time.time()) - older_than.total_seconds()
        gone = 0
        for capture in sorted(self.root.glob("*/*/*")):
            if capture.is_dir() and capture.stat().st_mtime < limit:
                shutil.rmtree(capture)
                gone += 1
        for folder in sorted(self.root.glob("*/*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return gone
