"""Charts over time drawn on the server as SVG: no build step, no script, no CDN.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` saying what it
shows in words (the highest day, the total), and a ``<title>`` per bar or point that a
pointer shows. Pages put the figures in a table beside it as well, for every reader. Colours
are SVG ``fill``/``stroke`` attributes, which the admin's CSP (``style-src 'self'``) allows;
text is escaped like everything else the templates write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import count

from markupsafe import Markup, escape

WIDTH = 760
HEIGHT = 240
#: Room for the value axis on the left, the day axis below, a little air on top and right.
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 14, 30
AXIS = "#5c6670"
GRID = "#dfe3e8"
ACCENT = "#1a62b8"
_ids = count(1)

Format = Callable[[int], str]


@dataclass(frozen=True)
class Series:
    """One line of a chart: its name, colour (``#rrggbb``) and a value per day."""

    name: str
    colour: str
    values: Sequence[int]


def axis_step(value: int) -> int:
    """The value axis' step, so that its four steps reach ``value``: the smallest 1, 2 or 5
    × 10^k (2.5 × 10^k from 10 on) at or above a quarter of it; every tick is a whole
    number of minor units or of orders (at least 1)."""
    quarter = max(1, value) / 4
    power = 1
    while True:
        for step in (1, 2, 2.5, 5):
            candidate = step * power
            if candidate == int(candidate) and candidate >= quarter:
                return int(candidate)
        power *= 10


def _day_label(day: date) -> str:
    return f"{day.day} {day.strftime('%b')}"


def _frame(
    title: str, description: str, body: list[str], width: int = WIDTH, height: int = HEIGHT
) -> Markup:
    n = next(_ids)
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="chart-{n}-title chart-{n}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-{n}-title">{escape(title)}</title>'
        f'<desc id="chart-{n}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _axes(days: Sequence[date], top: int, fmt: Format, width: int, height: int) -> list[str]:
    """Horizontal grid lines with their values (``top`` is four whole steps), and a few day
    labels below; "Nothing in these days" across a chart with nothing to draw."""
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    parts = []
    for i in range(5):
        value = top // 4 * i
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{AXIS}">{escape(fmt(value))}</text>'
        )
    if days:
        step = max(1, math.ceil(len(days) / 8))
        slot = plot_w / len(days)
        shown = list(range(0, len(days), step))
        if shown[-1] != len(days) - 1 and len(days) - 1 - shown[-1] >= step / 2:
            shown.append(len(days) - 1)
        for index in shown:
            x = LEFT + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11" fill="{AXIS}">{escape(_day_label(days[index]))}</text>'
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        f'stroke="{AXIS}" stroke-width="1"/>'
    )
    return parts


def _nothing(width: int, height: int) -> str:
    x = LEFT + (width - LEFT - RIGHT) / 2
    y = TOP + (height - TOP - BOTTOM) / 2
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="14" '
        f'fill="{AXIS}">Nothing in these days</text>'
    )


def _summary(name: str, days: Sequence[date], values: Sequence[int], fmt: Format) -> str:
    if not days:
        return f"{name}: no days."
    total = sum(values)
    if not any(values):
        return f"{name}: nothing from {days[0]} to {days[-1]}."
    best = max(range(len(values)), key=lambda i: values[i])
    return (
        f"{name} from {days[0]} to {days[-1]}: {fmt(total)} in all; the highest day is "
        f"{days[best]} with {fmt(values[best])}."
    )


def bar_chart(
    title: str,
    days: Sequence[date],
    values: Sequence[int],
    fmt: Format = str,
    colour: str = ACCENT,
) -> Markup:
    """One bar per day (negative values are drawn as 0: reports never have them)."""
    top = 4 * axis_step(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = _axes(days, top, fmt, WIDTH, HEIGHT)
    if not any(values):
        body.append(_nothing(WIDTH, HEIGHT))
    slot = plot_w / max(1, len(days))
    bar = max(1.0, slot * 0.72)
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        h = plot_h * max(0, value) / top
        x = LEFT + slot * index + (slot - bar) / 2
        y = TOP + plot_h - h
        body.append(
            f'<rect class="bar" data-day="{day.isoformat()}" data-value="{value}" '
            f'x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{escape(colour)}">'
            f"<title>{escape(_day_label(day))}: {escape(fmt(value))}</title></rect>"
        )
    return _frame(title, _summary(title, days, values, fmt), body)


def line_chart(
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    fmt: Format = str,
) -> Markup:
    """One line per series, a point per day, and a legend under the title."""
    highest = max((max(s.values, default=0) for s in series), default=0)
    top = 4 * axis_step(highest)
    legend_rows = math.ceil(len(series) / 4) if series else 0
    height = HEIGHT + 18 * legend_rows
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = _axes(days, top, fmt, WIDTH, HEIGHT)
    if not highest:
        body.append(_nothing(WIDTH, HEIGHT))
    slot = plot_w / max(1, len(days))
    for s in series:
        points = [
            (LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * max(0, v) / top)
            for i, v in enumerate(s.values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(
            f'<g class="series" data-series="{escape(s.name)}">'
            f'<polyline points="{path}" fill="none" stroke="{escape(s.colour)}" '
            f'stroke-width="2"/>'
        )
        for (x, y), day, value in zip(points, days, s.values, strict=True):
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{escape(s.colour)}">'
                f"<title>{escape(s.name)}, {escape(_day_label(day))}: {escape(fmt(value))}</title>"
                "</circle>"
            )
        body.append("</g>")
    for index, s in enumerate(series):
        x = LEFT + (index % 4) * (plot_w / 4)
        y = HEIGHT + 18 * (index // 4) + 2
        body.append(
            f'<rect x="{x:.1f}" y="{y - 9}" width="12" height="12" rx="2" '
            f'fill="{escape(s.colour)}"/>'
            f'<text x="{x + 18:.1f}" y="{y + 1}" font-size="12" fill="#1d2125">'
            f"{escape(s.name)}</text>"
        )
    description = " ".join(_summary(s.name, days, s.values, fmt) for s in series)
    return _frame(title, description or f"{title}: nothing to show.", body, WIDTH, height)
