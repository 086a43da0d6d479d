"""Charts drawn on the server as inline SVG: no JavaScript, no front-end build, readable by a
screen reader (each chart has a title and every bar its value as text) and by the tests.

Every label goes through XML escaping here; personal data never reaches a chart because the
page masks everything it renders (``loanhub.dashboard.app``) and charts are rendered there.

Charts are drawn in the request's language (``loanhub.dashboard.i18n``): the title is looked up
in the catalogues (the extraction takes a literal first argument of ``hbar``, ``stacked`` and
``histogram`` as a message, ``N_`` or not), and row labels and legend entries that are codes
(states, outcomes, severities) get their labels; anything else (a DAG id, a field) is data and
stays as it is.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from loanhub.dashboard import i18n
from loanhub.dashboard.i18n import N_

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
EMPTY = N_("nothing to show")


class Svg(str):
    """A chart's markup: safe to print as is (``__html__``), every label in it escaped here."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def _text_width(text: str, latin: float = 7.5) -> float:
    """About how wide ``text`` is at the charts' 12 px: a CJK character takes a full em."""
    return sum(12.5 if unicodedata.east_asian_width(c) in "WF" else latin for c in text)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _svg(title: str, width: int, height: int, body: list[str]) -> Svg:
    title = i18n.text(title)
    return Svg(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _empty(title: str, width: int) -> Svg:
    return _svg(
        title,
        width,
        ROW + 8,
        [f'<text x="0" y="{ROW - 6}" class="empty">{escape(i18n.text(EMPTY))}</text>'],
    )


def hbar(title: str, rows: Sequence[tuple[str, float]], *, unit: str = "", width: int = 620) -> Svg:
    """One horizontal bar per row, its value written after it."""
    if not rows:
        return _empty(title, width)
    top = max((v for _, v in rows), default=0) or 1
    span = width - LABEL_WIDTH - 90
    body = []
    for i, (shown, value) in enumerate(rows):
        label = i18n.code(shown)
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
    names = {c: i18n.code(c) for c in seen}
    for i, (shown, counts) in enumerate(rows):
        label = i18n.code(shown)
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
                f'fill="{colour}"><title>{escape(label)} {escape(names[category])}: {n:,}'
                "</title></rect>"
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
        step = 28 + _text_width(names[category])
        if lx and lx + step > width:  # wrap the legend rather than cut it
            lx, legend_y = 0.0, legend_y + 18
        colour = PALETTE.get(category, DEFAULT_COLOUR)
        body.append(
            f'<rect x="{lx:.1f}" y="{legend_y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 16:.1f}" y="{legend_y + 11}" class="legend">'
            f"{escape(names[category])}</text>"
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


# -- over time --------------------------------------------------------------------------------

SERIES_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00897b", "#c62828", "#6d4c41")
"""Lines whose name has no colour of its own in ``PALETTE`` take these, in order."""
TREND_PALETTE = {
    "succeeded": "#66bb6a",
    "failed": "#c62828",
    "calls succeeded": "#66bb6a",
    "calls failed": "#c62828",
    "success rate": "#0d47a1",
    "on time": "#2e7d32",
    "late": "#ef6c00",
    "rejected": "#c62828",
    "missing": "#c62828",
    "waiting": "#f9a825",
}
MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
"""Labels fall on round times counted from a Monday midnight: 00/06/12/18 h, Mondays."""
LABEL_STEPS = {
    300: (1, 2, 3, 6, 12, 24, 48, 96),
    3600: (1, 2, 3, 6, 12, 24, 48, 168),
    86400: (1, 2, 7, 14, 28, 56),
    604800: (1, 2, 4, 8, 13, 26, 52),
}


MARK_SYMBOLS = {"on time": "✓", "rejected": "!", "waiting": "…"}
"""A mark's symbol on the baseline by its name; any other mark is a cross."""


def _symbol(name: str) -> str:
    return MARK_SYMBOLS.get(name, "×")


def _colour(name: str, i: int) -> str:
    return TREND_PALETTE.get(name) or PALETTE.get(name) or SERIES_COLOURS[i % len(SERIES_COLOURS)]


def _when(start: datetime, step_seconds: int) -> str:
    """A bucket's name in its titles: the local time it starts, as precise as the bucket."""
    if step_seconds < 86400:
        return start.strftime("%Y-%m-%d %H:%M")
    if step_seconds < 604800:
        return start.strftime("%Y-%m-%d")
    return f"week of {start:%Y-%m-%d}"


def _tick_label(start: datetime, step_seconds: int) -> str:
    if step_seconds < 86400 and (start.hour, start.minute) != (0, 0):
        return start.strftime("%H:%M")
    return start.strftime("%m-%d")


def _labelled(starts: Sequence[datetime], step_seconds: int, room: int) -> list[int]:
    """Which buckets get an axis label: every n-th on a round time, n as small as fits."""
    steps = LABEL_STEPS.get(step_seconds, (1, 2, 5, 10, 20, 50, 100))
    step = next((s for s in steps if len(starts) / s <= room), steps[-1])
    out = []
    for i, start in enumerate(starts):
        wall = start.replace(tzinfo=UTC) - MONDAY
        if int(wall.total_seconds()) // step_seconds % step == 0:
            out.append(i)
    return out or [0]


def _axis_top(peak: float, *, whole: bool = False) -> tuple[float, float]:
    """A round top for the axis and its grid step (four or five lines); ``whole``: counts,
    so no grid line falls between two whole numbers."""
    if peak <= 0:
        return (1.0, 1.0) if whole else (1.0, 0.25)
    step = _nice_step(peak / 4)
    if whole:
        step = max(step, 1.0)
    return step * math.ceil(peak / step - 1e-9), step


def _text_width(text: str) -> float:
    """About how wide ``text`` is at the charts' 12 px: capitals and CJK wider, i and l
    narrower; enough to keep legend entries apart."""
    width = 0.0
    for c in text:
        if ord(c) >= 0x2E80:
            width += 12
        elif c.isupper() or c in "_%mwMW":
            width += 8.2
        elif c in " il.,:;|!'()":
            width += 3.6
        else:
            width += 6.8
    return width


def _label(name: str) -> str:
    """A series' name as the reader sees it: a code's label, or the marked English looked up
    in the request's language (colours and symbols stay keyed by the name itself)."""
    return i18n.text(i18n.code(name))


def timeline(
    title: str,
    starts: Sequence[datetime],
    step_seconds: int,
    *,
    bars: Sequence[tuple[str, Sequence[float]]] = (),
    lines: Sequence[tuple[str, Sequence[float | None]]] = (),
    rate: tuple[str, Sequence[float | None]] | None = None,
    marks: Sequence[tuple[str, Sequence[bool]]] = (),
    limit: tuple[str, float] | None = None,
    unit: str = "",
    width: int = 620,
    height: int = 210,
) -> Svg:
    """Values over time, one slot per bucket (``starts``: each bucket's local start):
    ``bars`` stacked in columns and ``lines`` on the left axis, ``rate`` (0 to 1) as a line on
    a right-hand axis of 0-100 %, ``marks`` as a symbol on the baseline of the buckets they
    flag (a night without its file: ×; ``MARK_SYMBOLS``), ``limit`` a dashed line (an allowed
    wait). Every column segment and every point carries its bucket and value as a title; the
    legend names each series; axis labels fall on round times, never closer than about 60 px."""
    n = len(starts)
    values = [v for _, vs in bars for v in vs] + [v for _, vs in lines for v in vs if v is not None]
    flagged = any(f for _, fs in marks for f in fs)
    rated = rate is not None and any(v is not None for v in rate[1])
    if not n or not (any(values) or flagged or rated):
        return _empty(title, width)
    stacks = [sum(vs[i] for _, vs in bars) for i in range(n)] if bars else [0.0]
    peak = max([*stacks, *(v for _, vs in lines for v in vs if v is not None)], default=0)
    if limit is not None:
        peak = max(peak, limit[1])
    whole = all(float(v).is_integer() for v in values)
    top, grid = _axis_top(peak, whole=whole)
    left, right = 52, width - (44 if rate is not None else 14)
    y_top, y_base = 30, height - 28
    span, slot = y_base - y_top, (right - left) / n

    def y(v: float) -> float:
        return y_base - span * v / top

    def x(i: int) -> float:
        return left + slot * (i + 0.5)

    body: list[str] = []
    # the legend, above the plot
    legend = [(name, "bar") for name, _ in bars] + [(name, "line") for name, _ in lines]
    legend += [(rate[0], "line")] if rate is not None else []
    legend += [(name, "mark") for name, fs in marks if any(fs)]
    legend += [(limit[0], "limit")] if limit is not None else []
    lx = float(left)
    for i, (name, kind) in enumerate(legend):
        colour = _legend_colour(name, kind, i, bars, lines)
        if kind == "bar":
            body.append(f'<rect x="{lx:.1f}" y="6" width="12" height="12" fill="{colour}"/>')
        elif kind == "mark":
            body.append(
                f'<text x="{lx + 6:.1f}" y="17" text-anchor="middle" class="mark" '
                f'font-size="14" fill="{colour}">{_symbol(name)}</text>'
            )
        else:
            dash = ' stroke-dasharray="4 3"' if kind == "limit" else ""
            body.append(
                f'<line x1="{lx:.1f}" y1="12" x2="{lx + 12:.1f}" y2="12" stroke="{colour}" '
                f'stroke-width="2.5"{dash}/>'
            )
        shown = _label(name)
        body.append(f'<text x="{lx + 16:.1f}" y="17" class="legend">{escape(shown)}</text>')
        lx += 30 + _text_width(shown)
    # grid and the left axis
    v = 0.0
    while v <= top + 1e-9:
        body.append(
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{right}" y2="{y(v):.1f}" '
            f'stroke="{"#90a4ae" if v == 0 else "#e3e8eb"}"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="axis">'
            f"{_number(v)}{escape(unit)}</text>"
        )
        v += grid
    if rate is not None:
        for share in (0, 0.5, 1):
            body.append(
                f'<text x="{right + 6}" y="{y_base - span * share + 4:.1f}" class="axis">'
                f"{share * 100:.0f} %</text>"
            )
    # the time axis
    for i in _labelled(starts, step_seconds, max(1, int((right - left) // 60))):
        body.append(
            f'<line x1="{x(i):.1f}" y1="{y_base}" x2="{x(i):.1f}" y2="{y_base + 4}" '
            f'stroke="#90a4ae"/><text x="{x(i):.1f}" y="{y_base + 17}" text-anchor="middle" '
            f'class="axis">{_tick_label(starts[i], step_seconds)}</text>'
        )
    # columns
    bar_w = max(slot * 0.78, min(slot, 1.0))
    for i in range(n):
        base = 0.0
        for j, (name, vs) in enumerate(bars):
            value = vs[i]
            if not value:
                continue
            h = max(span * value / top, 1.0)
            body.append(
                f'<rect x="{x(i) - bar_w / 2:.1f}" y="{y(base) - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{_colour(name, j)}"><title>'
                f"{_when(starts[i], step_seconds)} {escape(_label(name))}: {_number(value)}"
                f"{escape(unit)}"
                "</title></rect>"
            )
            base += value
    # the limit, lines, the rate
    if limit is not None:
        body.append(
            f'<line x1="{left}" y1="{y(limit[1]):.1f}" x2="{right}" y2="{y(limit[1]):.1f}" '
            f'stroke="#c62828" stroke-dasharray="4 3"><title>{escape(_label(limit[0]))}: '
            f"{_number(limit[1])}{escape(unit)}</title></line>"
        )
    drawn = [(name, vs, lambda v: y(v), unit, i) for i, (name, vs) in enumerate(lines)]
    if rate is not None:
        drawn.append((rate[0], rate[1], lambda v: y_base - span * v, "", len(lines)))
    for name, vs, to_y, suffix, k in drawn:
        colour = _colour(name, k)
        run: list[str] = []
        for i, value in enumerate([*vs, None]):
            if value is not None:
                run.append(f"{x(i):.1f},{to_y(value):.1f}")
                continue
            if len(run) > 1:
                body.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                    'stroke-width="2" stroke-linejoin="round"/>'
                )
            run = []
        radius = 2.5 if n <= 60 else 1.5
        for i, value in enumerate(vs):
            if value is None:
                continue
            shown = (
                f"{value * 100:.1f} %" if name == (rate or ("",))[0] else _number(value) + suffix
            )
            body.append(
                f'<circle cx="{x(i):.1f}" cy="{to_y(value):.1f}" r="{radius}" fill="{colour}">'
                f"<title>{_when(starts[i], step_seconds)} {escape(_label(name))}: {escape(shown)}"
                "</title></circle>"
            )
    for j, (name, flags) in enumerate(marks):
        colour = _colour(name, j)
        for i, flag in enumerate(flags):
            if flag:
                body.append(
                    f'<text x="{x(i):.1f}" y="{y_base - 3}" text-anchor="middle" class="mark" '
                    f'font-size="14" fill="{colour}">{_symbol(name)}'
                    f"<title>{_when(starts[i], step_seconds)}: {escape(_label(name))}"
                    "</title></text>"
                )
    return _svg(title, width, height, body)


def _legend_colour(
    name: str,
    kind: str,
    i: int,
    bars: Sequence[tuple[str, Sequence[float]]],
    lines: Sequence[tuple[str, Sequence[float | None]]],
) -> str:
    if kind == "bar":
        return _colour(name, [b for b, _ in bars].index(name))
    if kind == "line" and name in [n for n, _ in lines]:
        return _colour(name, [n for n, _ in lines].index(name))
    if kind == "line":
        return _colour(name, len(lines))
    if kind == "limit":
        return "#c62828"
    return _colour(name, 0)
