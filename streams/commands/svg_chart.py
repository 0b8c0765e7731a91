"""Small inline-SVG line charts (no script, no external resource): a time axis in New
York time, nice value ticks, a second y-axis, and markers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

_NY = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class Line:
    """A series to draw: on the left y-axis, or the right one with ``right``."""

    name: str
    points: Sequence[tuple[int, float]]
    color: str
    right: bool = False
    area: bool = False


@dataclass(frozen=True, slots=True)
class Marker:
    """A triangle at ``(ts_us, value)`` on the left axis, pointing up or down; ``label`` on hover."""

    ts_us: int
    value: float
    color: str
    label: str
    up: bool = True


_W, _H, _PAD = 960, 270, (64, 64, 40, 30)  # width, height, padding left/right/top/bottom
_TIME_STEPS_MIN = (1, 2, 5, 10, 15, 30, 60, 120, 240, 1440, 2880, 7200, 10080, 43200)
_MAX_POINTS = 1500


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) covering ``[lo, hi]``, ends included."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.01 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _time_ticks(t0: int, t1: int) -> list[tuple[int, str]]:
    span_min = max((t1 - t0) / 60e6, 1.0)
    step_min = next((s for s in _TIME_STEPS_MIN if span_min / s <= 8), _TIME_STEPS_MIN[-1])
    step = step_min * 60_000_000
    fmt = "%H:%M" if span_min <= 1440 else ("%m-%d" if step_min >= 1440 else "%m-%d %H:%M")
    start = -(-t0 // step) * step
    return [(t, datetime.fromtimestamp(t / 1e6, tz=_NY).strftime(fmt)) for t in range(start, t1 + 1, step)]


def _thin(points: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
    stride = math.ceil(len(points) / _MAX_POINTS)
    return points if stride <= 1 else [*points[::stride], points[-1]]


def _num(v: float) -> str:
    return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def line_chart(title: str, lines: Sequence[Line], markers: Sequence[Marker] = ()) -> str:
    """An inline ``<svg>`` chart of ``lines`` on one time axis, with grid, ticks and legend."""
    lines = [ln for ln in lines if ln.points]
    left, right, top, bottom = _PAD
    out = [f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" '
           f'aria-label="{escape(title)}"><text class="title" x="{left}" y="16">{escape(title)}</text>']
    if not lines:
        return "".join(out) + f'<text class="axis" x="{left}" y="60">no data</text></svg>'
    times = [t for ln in lines for t, _ in (ln.points[0], ln.points[-1])]
    t0, t1 = min(times), max(max(times), min(times) + 1)

    def x_of(t: int) -> float:
        return left + (t - t0) / (t1 - t0) * (_W - left - right)

    scales = {}
    for side in (False, True):
        values = [v for ln in lines if ln.right == side for _, v in ln.points]
        values += [m.value for m in markers] if not side else []
        if values:
            ticks = nice_ticks(min(values), max(values))
            scales[side] = (ticks, ticks[0], ticks[-1])

    def y_of(v: float, side: bool) -> float:
        _, lo, hi = scales[side]
        return _H - bottom - (v - lo) / (hi - lo) * (_H - top - bottom)

    for side, (ticks, _, _) in scales.items():
        x_text, anchor = (_W - right + 6, "start") if side else (left - 6, "end")
        for v in ticks:
            y = y_of(v, side)
            if not side or False not in scales:
                out.append(f'<line class="grid" x1="{left}" x2="{_W - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
            out.append(f'<text class="axis" x="{x_text}" y="{y + 4:.1f}" text-anchor="{anchor}">'
                       f"{escape(_num(v))}</text>")
    for t, label in _time_ticks(t0, t1):
        out.append(f'<text class="axis" x="{x_of(t):.1f}" y="{_H - 10}" text-anchor="middle">'
                   f"{escape(label)}</text>")
    for ln in lines:
        pts = " ".join(f"{x_of(t):.1f},{y_of(v, ln.right):.1f}" for t, v in _thin(ln.points))
        if ln.area:
            base = y_of(min(max(0.0, scales[ln.right][1]), scales[ln.right][2]), ln.right)
            first, last = x_of(ln.points[0][0]), x_of(ln.points[-1][0])
            out.append(f'<polygon points="{first:.1f},{base:.1f} {pts} {last:.1f},{base:.1f}" '
                       f'fill="{ln.color}" fill-opacity="0.15" stroke="none"/>')
        out.append(f'<polyline points="{pts}" fill="none" stroke="{ln.color}" stroke-width="1.5"/>')
    for m in markers:
        x, y, d = x_of(m.ts_us), y_of(m.value, False), (6 if m.up else -6)
        out.append(f'<polygon points="{x:.1f},{y - d:.1f} {x - 5:.1f},{y + d:.1f} {x + 5:.1f},{y + d:.1f}" '
                   f'fill="{m.color}"><title>{escape(m.label)}</title></polygon>')
    for i, ln in enumerate(lines):
        x = left + 8 + i * 180
        out.append(f'<rect x="{x}" y="26" width="10" height="3" fill="{ln.color}"/>'
                   f'<text class="axis" x="{x + 14}" y="31">'
                   f'{escape(ln.name + (" (right axis)" if ln.right else ""))}</text>')
    return "".join(out) + "</svg>"
