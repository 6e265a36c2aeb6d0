"""Server-rendered SVG charts: no JavaScript, readable in print, small on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T = 720, 200, 44, 34, 18


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step: float = 10 ** len(str(int(value))) / 10
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * step:
            return factor * step
    return value


def bar_chart(points: Sequence[tuple[str, float]], *, unit: str, title: str) -> Markup:
    """A bar per point, y axis from zero, every label escaped."""
    if not points:
        return Markup("")
    top = _nice_max(max(v for _, v in points))
    inner_w, inner_h = WIDTH - PAD_L - 8, HEIGHT - PAD_B - PAD_T
    slot = inner_w / len(points)
    every = max(1, len(points) // 10)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for frac in (0, 0.5, 1):
        y = PAD_T + inner_h * (1 - frac)
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                     f'{top * frac:g}</text>')
    for i, (label, value) in enumerate(points):
        h = inner_h * max(value, 0) / top
        x = PAD_L + i * slot + slot * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{PAD_T + inner_h - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{h:.1f}" class="bar"><title>{escape(label)}: {value:.2f} '
                     f'{escape(unit)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 12}" class="axis" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text x="4" y="12" class="axis">{escape(unit)}</text></svg>')
    return Markup("".join(parts))


def _local(moment: datetime, tz: tzinfo) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(tz)


def line_chart(series: Sequence[tuple[datetime, float]], *, unit: str, title: str,
               tz: tzinfo = UTC) -> Markup:
    """One line over time (a session's power or energy); times (stored in UTC) are labelled in
    the site's time zone."""
    if len(series) < 2:
        return Markup("")
    t0, t1 = series[0][0], series[-1][0]
    l0, l1 = _local(t0, tz), _local(t1, tz)
    span = max((t1 - t0).total_seconds(), 1.0)
    top = _nice_max(max(v for _, v in series))
    inner_w, inner_h = WIDTH - PAD_L - 8, HEIGHT - PAD_B - PAD_T
    coords = " ".join(
        f"{PAD_L + inner_w * (t - t0).total_seconds() / span:.1f},"
        f"{PAD_T + inner_h * (1 - max(v, 0) / top):.1f}" for t, v in series)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line x1="{PAD_L}" x2="{WIDTH - 8}" y1="{PAD_T + inner_h}" y2="{PAD_T + inner_h}" '
        f'class="grid"/><text x="{PAD_L - 4}" y="{PAD_T + 4}" class="axis" text-anchor="end">'
        f'{top:g}</text><polyline points="{coords}" class="line"/>'
        f'<text x="4" y="12" class="axis">{escape(unit)}</text>'
        f'<text x="{PAD_L}" y="{HEIGHT - 12}" class="axis start">{l0:%H:%M}</text>'
        f'<text x="{WIDTH - 8}" y="{HEIGHT - 12}" class="axis end" text-anchor="end">{l1:%H:%M}'
        "</text></svg>")
