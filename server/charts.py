"""Server-rendered SVG charts: readable without JavaScript, sharp when printed, with a <title> and
<desc> for screen readers (pages also show the same numbers as a table)."""

from __future__ import annotations

from datetime import date, timedelta
from xml.sax.saxutils import escape

import msgspec
from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 14, 40


class DayValue(msgspec.Struct, frozen=True):
    day: date
    value: float


class Marker(msgspec.Struct, frozen=True):
    day: date
    label: str


class Band(msgspec.Struct, frozen=True):
    low: float
    high: float
    label: str


class Series(msgspec.Struct, frozen=True):
    name: str
    css_class: str
    points: list[DayValue]


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    start: date,
    end: date,
    y_max: float,
    series: list[Series],
    markers: list[Marker] = [],  # noqa: B006 - never mutated
    bands: list[Band] = [],  # noqa: B006
    y_ticks: tuple[float, ...] = (0, 5, 10),
) -> Markup:
    """A daily line chart from ``start`` to ``end`` with vertical markers (ketamine sessions) and bands.

    ``chart_id`` keeps the title and description ids unique when a page shows several charts.
    """
    span = max((end - start).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * (day - start).days / span

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_max)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for index, band in enumerate(bands):
        top, bottom = y(min(band.high, y_max)), y(band.low)
        parts.append(
            f'<rect class="band band-{index}" x="{LEFT}" y="{top:.1f}" width="{plot_w}" height="{bottom - top:.1f}">'
            f"<title>{escape(band.label)}</title></rect>"
        )
    for tick in y_ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    for label_day, anchor in ((start, "start"), (start + timedelta(days=span // 2), "middle"), (end, "end")):
        parts.append(
            f'<text class="tick" x="{x(label_day):.1f}" y="{HEIGHT - 12}" text-anchor="{anchor}">'
            f"{label_day.strftime('%b %-d')}</text>"
        )
    for marker in markers:
        if start <= marker.day <= end:
            mx = x(marker.day)
            parts.append(
                f'<g class="marker"><line x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" y2="{TOP + plot_h}"/>'
                f'<path d="M{mx - 5:.1f},{TOP} h10 l-5,7 z"/><title>{escape(marker.label)}</title></g>'
            )
    for line in series:
        points = [p for p in sorted(line.points, key=lambda p: p.day) if start <= p.day <= end]
        if not points:
            continue
        coords = " ".join(f"{x(p.day):.1f},{y(p.value):.1f}" for p in points)
        parts.append(f'<polyline class="line {line.css_class}" points="{coords}"><title>{escape(line.name)}</title>')
        parts.append("</polyline>")
        parts.extend(
            f'<circle class="dot {line.css_class}" cx="{x(p.day):.1f}" cy="{y(p.value):.1f}" r="3">'
            f"<title>{escape(line.name)} {p.value:g} on {p.day.isoformat()}</title></circle>"
            for p in points
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped
