from __future__ import annotations

from xml.etree import ElementTree

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
