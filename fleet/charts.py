"""Server-side SVG charts for PDFs and pages: pure Python, no JavaScript, no plotting library.

``bar_chart_svg`` and ``line_chart_svg`` return a ``SafeString`` so that templates can write
``{{ chart_svg }}``: it is safe only because each builder escapes every piece of text it places (labels,
title, axis names, formatted values) and writes nothing else but numbers it computed and colours it
validated.
"""

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Literal

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = int | float | Decimal
Orientation = Literal["horizontal", "vertical"]

DEFAULT_FONT_FAMILY = "IPAexGothic, 'Noto Sans JP', 'Hiragino Sans', sans-serif"
NEGATIVE_VALUE = "A bar chart shows non-negative values: %(label)s is %(value)s."

_COLOUR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_FONT_FAMILY_RE = re.compile(r"^[\w \-,']+$")


def text_width(text: str, font_size: float) -> float:
    """An estimate of the rendered width of ``text``: wide (CJK) characters 1 em, the others ~0.6 em."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text) * font_size


def truncate(text: str, max_width: float, font_size: float) -> str:
    """``text`` shortened with an ellipsis so that it fits ``max_width``."""
    if text_width(text, font_size) <= max_width:
        return text
    while text and text_width(text + "…", font_size) > max_width:
        text = text[:-1]
    return text + "…"


def nice_ticks(maximum: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 × 10ⁿ; at least 1 when ``integer``) from 0 up to ``maximum`` or more."""
    if maximum <= 0:
        return [0, 1]
    raw_step = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    if integer:
        step = max(1, round(step))
    digits = max(0, -math.floor(math.log10(step)))
    steps = math.ceil(maximum / step - 1e-9)
    return [round(i * step, digits) if digits else int(round(i * step)) for i in range(steps + 1)]


def default_value_format(value: Number) -> str:
    """Format a value for the active locale: grouped thousands, no needless decimals."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return number_format(value, use_l10n=True, force_grouping=True)


def _num(value: float) -> str:
    """A coordinate for SVG: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    attrs = "".join(f' {name.replace("_", "-")}="{escape(value)}"' for name, value in attributes.items())
    return f'<text x="{_num(x)}" y="{_num(y)}"{attrs}>{escape(content)}</text>'


def bar_chart_svg(
    data: Sequence[tuple[str, Number]],
    *,
    orientation: Orientation = "horizontal",
    title: str = "",
    value_axis_label: str = "",
    category_axis_label: str = "",
    width: int = 640,
    height: int | None = None,
    bar_colour: str = "#2f5d8a",
    font_family: str = DEFAULT_FONT_FAMILY,
    font_size: float = 11,
    value_format: Callable[[Number], str] = default_value_format,
    empty_text: str = "",
) -> SafeString:
    """An SVG bar chart of ``(label, value)`` pairs, with a value axis (ticks, grid) and axis labels.

    Horizontal charts put the labels on the left and suit many or long labels; vertical charts put them
    under the bars. Values must be non-negative. Every text is escaped here; callers pass plain text.
    """
    if not _COLOUR_RE.match(bar_colour):
        raise ValueError(f"bar_colour must be a hex colour such as #2f5d8a, not {bar_colour!r}")
    if not _FONT_FAMILY_RE.match(font_family):
        raise ValueError(f"font_family has unexpected characters: {font_family!r}")
    for label, value in data:
        if value < 0:
            raise ValueError(NEGATIVE_VALUE % {"label": label, "value": value})

    if orientation not in ("horizontal", "vertical"):
        raise ValueError(f"orientation must be 'horizontal' or 'vertical', not {orientation!r}")
    width, font_size = int(width), float(font_size)  # written into the SVG unescaped: numbers only
    if not data:
        body, height = "", float(height or font_size * 3)
    elif orientation == "horizontal":
        body, height = _horizontal(data, width, height, font_size, value_format, bar_colour)
    else:
        body, height = _vertical(data, width, int(height or 260), font_size, value_format, bar_colour)

    # The axis along the bottom (values when horizontal, categories when vertical) is named under it;
    # the other axis is named above its top-left end, like a column heading.
    if orientation == "horizontal":
        bottom_name, corner_name = value_axis_label, category_axis_label
    else:
        bottom_name, corner_name = category_axis_label, value_axis_label
    line = font_size * 1.6
    title_y = font_size * 1.2
    corner_y = (line if title else 0) + font_size * 1.1
    top = (line if title else 0) + (line if corner_name else 0)
    bottom = line if bottom_name else 0
    total_height = top + height + bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_num(total_height)}" '
        f'viewBox="0 0 {width} {_num(total_height)}" role="img" aria-label="{escape(title)}" '
        f'font-family="{escape(font_family)}" font-size="{_num(font_size)}" class="bar-chart">',
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
        parts.append(_text(0, title_y, title, font_weight="bold", font_size=_num(font_size * 1.1)))
    if not data:
        parts.append(_text(width / 2, top + height / 2, empty_text, text_anchor="middle", fill="#666666"))
    else:
        parts.append(f'<g transform="translate(0 {_num(top)})">{body}</g>')
        if corner_name:
            parts.append(_text(0, corner_y, corner_name, fill="#333333"))
        if bottom_name:
            parts.append(
                _text(width / 2, top + height + font_size * 1.3, bottom_name, text_anchor="middle", fill="#333333")
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()


def _horizontal(
    data: Sequence[tuple[str, Number]],
    width: int,
    height: int | None,
    font_size: float,
    value_format: Callable[[Number], str],
    colour: str,
) -> tuple[str, float]:
    bar_pitch = font_size * 2
    label_width = min(width * 0.35, max((text_width(label, font_size) for label, _ in data), default=0) + font_size)
    values = [value for _, value in data]
    value_width = max((text_width(value_format(v), font_size) for v in values), default=0) + font_size
    plot_left = label_width
    plot_right = width - value_width
    plot_height = height if height is not None else bar_pitch * len(data)
    if data:
        bar_pitch = plot_height / len(data)
    ticks = nice_ticks(float(max(values, default=0)), integer=all(isinstance(v, int) for v in values))
    scale = (plot_right - plot_left) / ticks[-1]
    tick_zone = font_size * 1.3
    parts = []
    for tick in ticks:
        x = plot_left + tick * scale
        parts.append(
            f'<line x1="{_num(x)}" y1="0" x2="{_num(x)}" y2="{_num(plot_height)}" stroke="#dddddd" stroke-width="0.5"/>'
        )
        parts.append(_text(x, plot_height + font_size * 1.1, value_format(tick), text_anchor="middle", fill="#555555"))
    for index, (label, value) in enumerate(data):
        y = index * bar_pitch
        bar_height = bar_pitch * 0.7
        bar_y = y + (bar_pitch - bar_height) / 2
        bar_width = float(value) * scale
        middle = y + bar_pitch / 2 + font_size * 0.35
        parts.append(
            f'<rect x="{_num(plot_left)}" y="{_num(bar_y)}" width="{_num(bar_width)}" '
            f'height="{_num(bar_height)}" fill="{colour}"/>'
        )
        parts.append(
            _text(
                plot_left - font_size * 0.4,
                middle,
                truncate(label, label_width - font_size, font_size),
                text_anchor="end",
            )
        )
        parts.append(_text(plot_left + bar_width + font_size * 0.3, middle, value_format(value), fill="#333333"))
    parts.append(
        f'<line x1="{_num(plot_left)}" y1="0" x2="{_num(plot_left)}" y2="{_num(plot_height)}" '
        'stroke="#555555" stroke-width="1"/>'
    )
    return "".join(parts), plot_height + tick_zone


def _vertical(
    data: Sequence[tuple[str, Number]],
    width: int,
    height: int,
    font_size: float,
    value_format: Callable[[Number], str],
    colour: str,
) -> tuple[str, float]:
    values = [value for _, value in data]
    ticks = nice_ticks(float(max(values, default=0)), integer=all(isinstance(v, int) for v in values))
    axis_width = max(text_width(value_format(t), font_size) for t in ticks) + font_size * 0.6
    plot_left = axis_width
    plot_width = width - plot_left
    label_zone = font_size * 1.6
    plot_top = font_size * 1.2  # room for the value above the tallest bar
    plot_bottom = height - label_zone
    scale = (plot_bottom - plot_top) / ticks[-1]
    pitch = plot_width / max(len(data), 1)
    parts = []
    for tick in ticks:
        y = plot_bottom - tick * scale
        parts.append(
            f'<line x1="{_num(plot_left)}" y1="{_num(y)}" x2="{_num(width)}" y2="{_num(y)}" '
            'stroke="#dddddd" stroke-width="0.5"/>'
        )
        parts.append(
            _text(
                plot_left - font_size * 0.3, y + font_size * 0.35, value_format(tick), text_anchor="end", fill="#555555"
            )
        )
    for index, (label, value) in enumerate(data):
        bar_width = pitch * 0.6
        x = plot_left + index * pitch + (pitch - bar_width) / 2
        bar_height = float(value) * scale
        centre = plot_left + index * pitch + pitch / 2
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(plot_bottom - bar_height)}" width="{_num(bar_width)}" '
            f'height="{_num(bar_height)}" fill="{colour}"/>'
        )
        parts.append(
            _text(
                centre,
                plot_bottom - bar_height - font_size * 0.3,
                value_format(value),
                text_anchor="middle",
                fill="#333333",
            )
        )
        parts.append(
            _text(
                centre,
                plot_bottom + font_size * 1.2,
                truncate(label, pitch - font_size * 0.4, font_size),
                text_anchor="middle",
            )
        )
    parts.append(
        f'<line x1="{_num(plot_left)}" y1="{_num(plot_bottom)}" x2="{_num(width)}" y2="{_num(plot_bottom)}" '
        'stroke="#555555" stroke-width="1"/>'
    )
    return "".join(parts), float(height)


DEFAULT_LINE_COLOURS = ("#2f5d8a", "#c2410c", "#15803d", "#a21caf", "#b45309", "#0e7490", "#4b5563")


def _segments(points: Sequence[tuple[float, Number | None]]) -> list[list[tuple[float, Number]]]:
    """The runs of points between gaps (values of None)."""
    segments: list[list] = [[]]
    for x, y in points:
        if y is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((x, y))
    return [segment for segment in segments if segment]


def line_chart_svg(
    series: Sequence[tuple[str, Sequence[tuple[float, Number | None]]]],
    *,
    x_max: float,
    x_ticks: Sequence[tuple[float, str]] = (),
    y_max: Number | None = None,
    title: str = "",
    value_axis_label: str = "",
    width: int = 640,
    height: int = 220,
    colours: Sequence[str] = DEFAULT_LINE_COLOURS,
    font_family: str = DEFAULT_FONT_FAMILY,
    font_size: float = 11,
    value_format: Callable[[Number], str] = default_value_format,
    empty_text: str = "",
) -> SafeString:
    """An SVG line chart: one polyline per ``(name, [(x, y), ...])`` series, with a value axis and a legend.

    ``x`` runs from 0 to ``x_max`` (days, hours...); ``x_ticks`` names some of them (dates) under the plot.
    ``y_max`` fixes the top of the value axis (100 for percentages); by default it fits the data. Values must
    be non-negative; a value of None is a gap (a month without data), where the line breaks. As for
    ``bar_chart_svg``, every text is escaped here and callers pass plain text.
    """
    colours = tuple(colours)
    if not colours or not all(_COLOUR_RE.match(colour) for colour in colours):
        raise ValueError(f"colours must be hex colours such as #2f5d8a, not {colours!r}")
    if not _FONT_FAMILY_RE.match(font_family):
        raise ValueError(f"font_family has unexpected characters: {font_family!r}")
    if not x_max > 0:
        raise ValueError(f"x_max must be positive, not {x_max!r}")
    for name, points in series:
        for _x, y in points:
            if y is not None and y < 0:
                raise ValueError(NEGATIVE_VALUE % {"label": name, "value": y})
    width, height, font_size = int(width), int(height), float(font_size)  # written unescaped: numbers only
    has_points = any(y is not None for _name, points in series for _x, y in points)
    line = font_size * 1.6
    top = (line if title else 0) + (line if value_axis_label else 0)
    legend_height = line * len(series) if has_points else 0
    total_height = top + height + legend_height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_num(total_height)}" '
        f'viewBox="0 0 {width} {_num(total_height)}" role="img" aria-label="{escape(title)}" '
        f'font-family="{escape(font_family)}" font-size="{_num(font_size)}" class="line-chart">',
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
        parts.append(_text(0, font_size * 1.2, title, font_weight="bold", font_size=_num(font_size * 1.1)))
    if value_axis_label:
        parts.append(_text(0, (line if title else 0) + font_size * 1.1, value_axis_label, fill="#333333"))
    if not has_points:
        parts.append(_text(width / 2, top + height / 2, empty_text, text_anchor="middle", fill="#666666"))
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()

    values = [y for _name, points in series for _x, y in points if y is not None]
    top_value = float(y_max) if y_max is not None else float(max(values))
    ticks = nice_ticks(top_value, integer=all(isinstance(v, int) for v in values))
    axis_width = max(text_width(value_format(t), font_size) for t in ticks) + font_size * 0.6
    plot_left, plot_right = axis_width, width - font_size
    plot_top, plot_bottom = top + font_size * 0.6, top + height - font_size * 1.6
    x_scale = (plot_right - plot_left) / float(x_max)
    y_scale = (plot_bottom - plot_top) / ticks[-1]
    for tick in ticks:
        y = plot_bottom - tick * y_scale
        parts.append(
            f'<line x1="{_num(plot_left)}" y1="{_num(y)}" x2="{_num(plot_right)}" y2="{_num(y)}" '
            'stroke="#dddddd" stroke-width="0.5"/>'
        )
        parts.append(
            _text(
                plot_left - font_size * 0.3, y + font_size * 0.35, value_format(tick), text_anchor="end", fill="#555555"
            )
        )
    for x, label in x_ticks:
        px = plot_left + float(x) * x_scale
        parts.append(
            f'<line x1="{_num(px)}" y1="{_num(plot_bottom)}" x2="{_num(px)}" y2="{_num(plot_bottom + 3)}" '
            'stroke="#555555" stroke-width="1"/>'
        )
        parts.append(_text(px, plot_bottom + font_size * 1.3, label, text_anchor="middle", fill="#555555"))
    parts.append(
        f'<line x1="{_num(plot_left)}" y1="{_num(plot_bottom)}" x2="{_num(plot_right)}" y2="{_num(plot_bottom)}" '
        'stroke="#555555" stroke-width="1"/>'
    )
    for index, (name, points) in enumerate(series):
        colour = colours[index % len(colours)]
        for segment in _segments(points):
            coordinates = " ".join(
                f"{_num(plot_left + float(x) * x_scale)},{_num(plot_bottom - min(float(y), ticks[-1]) * y_scale)}"
                for x, y in segment
            )
            if len(segment) == 1:
                cx, cy = coordinates.split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            else:
                parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        legend_y = top + height + line * index + font_size
        parts.append(
            f'<rect x="0" y="{_num(legend_y - font_size * 0.8)}" width="{_num(font_size)}" '
            f'height="{_num(font_size * 0.8)}" fill="{colour}"/>'
        )
        parts.append(_text(font_size * 1.5, legend_y, name, fill="#333333"))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()
