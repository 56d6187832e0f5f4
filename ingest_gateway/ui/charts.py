"""Chart geometry for the dashboard, computed on the server: the pages draw inline SVG from
these numbers, so no chart library (and no CDN) is needed and only numbers reach an SVG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

SPARK_WIDTH = 160
TIMELINE_WIDTH = 960
TIMELINE_HEIGHT = 80
SPARK_HEIGHT = 28
BAR_WIDTH = 240


def sparkline_points(
    values: Sequence[float], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT
) -> str:
    """The `points` of an SVG polyline drawing `values` left to right, scaled to the largest;
    all zeros (or nothing) draw a flat line on the baseline."""
    if not values:
        values = [0.0]
    top = max(values)
    step = width / max(1, len(values) - 1)
    baseline = height - 1
    points = []
    for index, value in enumerate(values):
        y = baseline - (value / top) * (height - 2) if top > 0 else baseline
        points.append(f"{index * step:.1f},{y:.1f}")
    if len(points) == 1:  # a single minute still draws a visible line
        points.append(f"{width:.1f},{points[0].split(',')[1]}")
    return " ".join(points)


def bar_length(value: float, largest: float, width: int = BAR_WIDTH) -> int:
    """The length of a horizontal bar for `value` on a scale whose longest bar is `largest`;
    any value above zero gets at least one pixel, so it is not mistaken for none."""
    if largest <= 0 or value <= 0:
        return 0
    return max(1, round(width * value / largest))


@dataclass(frozen=True)
class Column:
    """One bar of a column chart: where it stands and what it means."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


def timeline(
    spans: Sequence[tuple[datetime, datetime, int, str]],
    start: datetime,
    end: datetime,
    width: int = TIMELINE_WIDTH,
    height: int = TIMELINE_HEIGHT,
    min_width: float = 4.0,
) -> list[Column]:
    """Bars on a time axis from `start` to `end`: one per (first, last, value, label), as wide
    as the time it spans (at least `min_width`) and as tall as its value, scaled to the largest."""
    if not spans:
        return []
    total = max((end - start).total_seconds(), 1.0)
    top = max(value for _, _, value, _ in spans) or 1
    result = []
    for first, last, value, label in spans:
        x = width * max(0.0, (first - start).total_seconds()) / total
        wide = max(min_width, width * (last - first).total_seconds() / total)
        x = min(x, width - min_width)
        tall = max(1.0, (height - 1) * value / top)
        result.append(Column(x, height - tall, min(wide, width - x), tall, label, value))
    return result
