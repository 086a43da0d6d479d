"""Screen evidence: masked on the page before the shot, trace kept owner-only, purged by age."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from bots.evidence import ScreenEvidence
from loanhub.platform.masking import mask_text

ID = "11010519491231002X"
CARD = "6222021234567890128"
PAGE = f"""<html><body><p>申请人：张三丰 证件号码：{ID}</p><input value="{CARD}">
<table><tr><td>申请人</td><td>宋娜霞</td></tr><tr><td>贷款产品</td><td>个人消费贷</td></tr></table>
<iframe srcdoc="<p>身份证 {ID}</p>"></iframe></body></html>"""


def test_capture_masks_every_frame_before_the_shot(chromium, evidence: ScreenEvidence):
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_content(PAGE)
        page.frames[-1].wait_for_load_state()
        context.tracing.start_chunk()
        folder = evidence.capture(
            page,
            context,
            kind="ss_history",
            key=ID,
            reason=f"stopped on {ID}",
            sensitive=["张三丰"],
        )
        shown = (
            " ".join(f.evaluate("() => document.body.innerText") for f in page.frames)
            + page.locator("input").input_value()
        )
        assert ID not in shown
        assert CARD not in shown
        assert "张三丰" not in shown
        assert "张**" in shown  # the given name, hidden but for its first character
        assert "宋娜霞" not in shown  # a name nobody gave: masked by its label, 申请人
        assert "宋**" in shown
        assert "个人消费贷" in shown  # what is not personal stays readable
        assert (folder / "screen.png").stat().st_size > 1000
        assert os.stat(folder / "trace.zip").st_mode & 0o777 == 0o600
        assert os.stat(folder).st_mode & 0o777 == 0o700
        reason = (folder / "reason.txt").read_text()
        assert ID not in reason
        assert "stopped on" in reason
        assert ID not in str(folder)
    finally:
        context.close()


def test_purge_drops_old_captures_only(tmp_path):
    evidence = ScreenEvidence(tmp_path, mask_text)
    old = evidence.folder("los_decision", "AP1") / "20200101T000000"
    new = evidence.folder("los_decision", "AP2") / "20261124T000000"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "reason.txt").write_text("x")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    assert evidence.purge(timedelta(days=7)) == 1
    assert not old.parent.exists()
    assert new.exists()
