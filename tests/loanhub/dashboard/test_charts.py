from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import pairwise
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest

from loanhub.dashboard import charts


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # well-formed XML, or this raises


def test_labels_are_escaped_and_values_written_out():
    svg = charts.hbar("calls <b>", [("<script>alert(1)</script>", 3), ("ok & fine", 1)])
    root = parse(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "<script>alert(1)</script>" in texts  # as text, not markup
    assert "<script>" not in svg
    assert "3" in texts
    assert root.get("role") == "img"
    assert root.get("aria-label") == "calls <b>"


def test_stacked_segments_add_up_and_the_legend_wraps():
    rows = [("a", {"ok": 5, "transient": 2}), ("b", {"needs_human": 1, "a_long_state_name": 4})]
    svg = charts.stacked("t", rows, ["ok", "transient", "needs_human"], width=300)
    root = parse(svg)
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert {"a ok: 5", "a transient: 2", "b needs_human: 1", "b a_long_state_name: 4"} <= set(
        titles
    )
    legend = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("width") == "12"]
    assert len({r.get("y") for r in legend}) > 1  # wrapped onto a second line


def test_a_histogram_counts_every_value_and_empty_charts_say_so():
    values = [0.2, 0.4, 1.1, 2.5, 2.6, 9.9]
    root = parse(charts.histogram("h", values))
    bars = [
        t.text
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        for t in r.iter("{http://www.w3.org/2000/svg}title")
    ]
    assert sum(int(b.rsplit(": ", 1)[1]) for b in bars) == len(values)
    assert "nothing to show" in charts.hbar("x", [])


SVG = "{http://www.w3.org/2000/svg}"
ZONE = ZoneInfo("Asia/Shanghai")


def hours(n: int, first: datetime | None = None) -> list[datetime]:
    start = first or datetime(2026, 12, 6, 9, 0, tzinfo=ZONE)
    return [start + timedelta(hours=i) for i in range(n)]


def titles(root: ElementTree.Element, tag: str) -> list[str]:
    return [t.text or "" for e in root.iter(SVG + tag) for t in e.iter(SVG + "title")]


def test_a_timeline_stacks_columns_and_titles_every_bucket_in_local_time():
    starts = hours(4)
    root = parse(
        charts.timeline(
            "calls <per hour>",
            starts,
            3600,
            bars=[("succeeded", [5, 0, 2, 7]), ("failed", [1, 0, 3, 0])],
            rate=("success rate", [5 / 6, None, 0.4, 1.0]),
        )
    )
    assert root.get("aria-label") == "calls <per hour>"
    bars = titles(root, "rect")
    assert bars == [
        "2026-12-06 09:00 succeeded: 5",
        "2026-12-06 09:00 failed: 1",
        "2026-12-06 11:00 succeeded: 2",
        "2026-12-06 11:00 failed: 3",
        "2026-12-06 12:00 succeeded: 7",
    ]  # nothing drawn for an empty bucket
    points = titles(root, "circle")
    assert points == [
        "2026-12-06 09:00 success rate: 83.3 %",
        "2026-12-06 11:00 success rate: 40.0 %",
        "2026-12-06 12:00 success rate: 100.0 %",
    ]
    # no rate where there was no call: the line breaks there instead of dropping to 0
    lines = list(root.iter(SVG + "polyline"))
    assert len(lines) == 1
    assert len(lines[0].get("points").split()) == 2
    axis = [t.text for t in root.iter(SVG + "text") if t.get("class") == "axis"]
    assert {"0 %", "50 %", "100 %"} <= set(axis)  # the rate's own axis
    # stacked: the failed segment sits on the succeeded one
    rects = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    first, second = rects[0], rects[1]
    assert float(second.get("y")) + float(second.get("height")) == pytest.approx(
        float(first.get("y")), abs=0.11
    )


def test_counts_get_whole_grid_lines_and_labels_never_crowd():
    for n, step in ((4, 3600), (168, 3600), (25, 3600), (30, 86400), (53, 604800), (36, 300)):
        starts = [
            datetime(2026, 10, 5, tzinfo=ZONE) + timedelta(seconds=step * i) for i in range(n)
        ]
        root = parse(
            charts.timeline("t", starts, step, bars=[("calls", [i % 3 for i in range(n)])])
        )
        axis = [t for t in root.iter(SVG + "text") if t.get("class") == "axis"]
        left = [t.text for t in axis if t.get("text-anchor") == "end"]
        assert all(float(v.replace(",", "")).is_integer() for v in left), left
        under = sorted(float(t.get("x")) for t in axis if t.get("text-anchor") == "middle")
        assert under, n
        assert all(b - a >= 50 for a, b in pairwise(under)), (n, step)
    # on hourly charts the labels fall on round hours, midnight shown as the date
    root = parse(charts.timeline("t", hours(48), 3600, bars=[("calls", [1] * 48)]))
    labels = [t.text for t in root.iter(SVG + "text") if t.get("text-anchor") == "middle"]
    assert "12-07" in labels
    assert all(re.fullmatch(r"12-0[78]|(00|06|12|18):00", lab) for lab in labels), labels


def test_marks_limits_legends_and_escaping():
    starts = [datetime(2026, 12, d, tzinfo=ZONE) for d in range(1, 6)]
    root = parse(
        charts.timeline(
            "nights",
            starts,
            86400,
            bars=[("loaded late", [0, 3.5, 0, 0, 0])],
            marks=[
                ("on time", [True, False, False, True, False]),
                ("missing", [False, False, True, False, False]),
                ("<b>never</b>", [False] * 5),
            ],
            limit=("allowed wait", 2),
            unit=" h",
        )
    )
    marked = titles(root, "text")
    assert marked == ["2026-12-01: on time", "2026-12-04: on time", "2026-12-03: missing"]
    assert "2026-12-02 loaded late: 3.5 h" in titles(root, "rect")
    assert titles(root, "line") == ["allowed wait: 2 h"]
    legend = [t.text for t in root.iter(SVG + "text") if t.get("class") == "legend"]
    assert legend == ["loaded late", "on time", "missing", "allowed wait"]  # unused marks left out
    xs = [float(t.get("x")) for t in root.iter(SVG + "text") if t.get("class") == "legend"]
    assert all(b - a > 8 * len(name) for a, b, name in zip(xs, xs[1:], legend, strict=False))
    svg = charts.timeline("x", starts, 86400, lines=[("a <script>", [1, 2, None, 3, 4])])
    assert "<script>" not in svg
    assert len(list(parse(svg).iter(SVG + "polyline"))) == 2  # a gap splits the line
    assert "nothing to show" in charts.timeline("x", starts, 86400, bars=[("a", [0] * 5)])
    assert "nothing to show" in charts.timeline("x", [], 86400)
