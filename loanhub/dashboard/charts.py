"""Charts drawn on the server as inline SVG: no JavaScript, no front-end build, readable by a
screen reader (each chart has a title and every bar its value as text) and by the tests.

Every label goes through XML escaping here; personal data never reaches a chart because the
page masks everything it renders (``loanhub.dashboard.app``) and charts are rendered there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

PALETTE = {
    "failed": "#c62828",
    "upstream_failed": "#ef6c00",
    "running": "#1565c0",
    "queued": "#7e57c2",
    "success": "#2e7d32",
    "NEEDS_HUMAN": "#c62828",
    "IN_DOUBT": "#ef6c00",
    "IN_PROGRESS": "#1565c0",
    "NEW": "#7e57c2",
    "FAILED": "#6d4c41",
    "DONE": "#2e7d32",
    "CLOSED": "#78909c",
    "ok": "#2e7d32",
    "business": "#00897b",
    "transient": "#ef6c00",
    "in_doubt": "#f9a825",
    "needs_human": "#c62828",
    "contract": "#6a1b9a",
    "error": "#6d4c41",
    "HIGH": "#c62828",
    "WATCH": "#ef6c00",
    "INFO": "#1565c0",
}
DEFAULT_COLOUR = "#546e7a"
BAR = "#1565c0"
ROW = 26
LABEL_WIDTH = 240


class Svg(str):
    """A chart's markup: safe to print as is (``__html__``), every label in it escaped here."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _svg(title: str, width: int, height: int, body: list[str]) -> Svg:
    return Svg(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _empty(title: str, width: int) -> Svg:
    return _svg(
        title,
        width,
        ROW + 8,
        [f'<text x="0" y="{ROW - 6}" class="empty">nothing to show</text>'],
    )


def hbar(title: str, rows: Sequence[tuple[str, float]], *, unit: str = "", width: int = 620) -> Svg:
    """One horizontal bar per row, its value written after it."""
    if not rows:
        return _empty(title, width)
    top = max((v for _, v in rows), default=0) or 1
    span = width - LABEL_WIDTH - 90
    body = []
    for i, (label, value) in enumerate(rows):
        y = i * ROW
        length = max(span * value / top, 1 if value else 0)
        body.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length:.1f}" height="{ROW - 8}" '
            f'fill="{BAR}"><title>{escape(label)}: {_number(value)}{escape(unit)}</title></rect>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 17}" class="value">'
            f"{_number(value)}{escape(unit)}</text>"
        )
    return _svg(title, width, len(rows) * ROW + 4, body)


def stacked(
    title: str,
    rows: Sequence[tuple[str, Mapping[str, int]]],
    order: Sequence[str],
    *,
    width: int = 620,
) -> Svg:
    """One bar per row split by category (in ``order``, others after), with a legend; each
    segment is labelled with its count when it is wide enough, and titled always."""
    if not rows:
        return _empty(title, width)
    seen = [c for c in order if any(r.get(c) for _, r in rows)]
    seen += sorted({c for _, r in rows for c in r if r[c] and c not in seen})
    top = max(sum(r.values()) for _, r in rows) or 1
    span = width - LABEL_WIDTH - 60
    body = []
    for i, (label, counts) in enumerate(rows):
        y = i * ROW
        x = float(LABEL_WIDTH)
        body.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
        )
        for category in seen:
            n = counts.get(category, 0)
            if not n:
                continue
            w = span * n / top
            colour = PALETTE.get(category, DEFAULT_COLOUR)
            body.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}" '
                f'fill="{colour}"><title>{escape(label)} {escape(category)}: {n:,}</title></rect>'
            )
            if w >= 8 * len(f"{n:,}") + 4:
                body.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 17}" text-anchor="middle" '
                    f'class="inside">{n:,}</text>'
                )
            x += w
        body.append(
            f'<text x="{x + 6:.1f}" y="{y + 17}" class="value">{sum(counts.values()):,}</text>'
        )
    legend_y = len(rows) * ROW + 10
    lx = 0.0
    for category in seen:
        step = 28 + 7.5 * len(category)
        if lx and lx + step > width:  # wrap the legend rather than cut it
            lx, legend_y = 0.0, legend_y + 18
        colour = PALETTE.get(category, DEFAULT_COLOUR)
        body.append(
            f'<rect x="{lx:.1f}" y="{legend_y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 16:.1f}" y="{legend_y + 11}" class="legend">{escape(category)}</text>'
        )
        lx += step
    return _svg(title, width, legend_y + 20, body)


def histogram(
    title: str, values: Sequence[float], *, unit: str = "h", bins: int = 12, width: int = 620
) -> Svg:
    """How values spread: equal-width bins from 0 to the largest value, counts on the bars."""
    if not values:
        return _empty(title, width)
    top = max(values)
    step = _nice_step(top / bins) if top > 0 else 1
    count = max(1, math.ceil(top / step + 1e-9)) if top > 0 else 1
    counts = [0] * count
    for v in values:
        counts[min(int(v // step), count - 1)] += 1
    height, base = 160, 140
    left, span = 40, width - 60
    bar_w = span / count
    most = max(counts) or 1
    body = [f'<line x1="{left}" y1="{base}" x2="{left + span}" y2="{base}" stroke="#90a4ae"/>']
    for i, n in enumerate(counts):
        h = (base - 20) * n / most
        x = left + i * bar_w
        low, high = i * step, (i + 1) * step
        body.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
            f'fill="{BAR}"><title>{_number(low)}–{_number(high)}{escape(unit)}: {n}</title></rect>'
        )
        if n:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" '
                f'class="value">{n}</text>'
            )
        if i % max(1, count // 6) == 0:
            body.append(
                f'<text x="{x:.1f}" y="{base + 15}" class="axis">'
                f"{_number(low)}{escape(unit)}</text>"
            )
    return _svg(title, width, height, body)


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten: bins people can read."""
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power
