"""Inline SVG charts of the HTML usage report (html_report.py).

Plain SVG markup inside the HTML page: no scripts, no external files, no `xmlns` (an inline
`<svg>` in HTML needs none). Every piece of text that reaches the markup goes through `escape`;
numbers are formatted here. Geometry uses floats (display only); money is never computed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from html import escape

W = 640  # viewBox width of every chart
BLUE = "#4a7bd0"
ORANGE = "#e07b39"
RED = "#c0392b"
GREY = "#8a8f98"
INK = "#222"
PALETTE = ("#4a7bd0", "#59a14f", "#e0a03a", "#b07aa1", "#76b7b2", "#e15759", "#9c755f", "#bab0ac")
TIER_FILLS = ("#eef3fa", "#dbe6f5", "#c6d7ef", "#adc5e8", "#93b2e0", "#789ed8")
_L, _R, _T, _B = 62, 20, 22, 30  # plot margins of the axis charts


def short(n: float) -> str:
    """Axis labels: 1234 -> '1.2k', 2_000_000 -> '2M'."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{n:.0f}"


def nice_axis(peak: float) -> tuple[float, float]:
    """(axis maximum, tick step): steps of 1, 2 or 5 × 10^k (at least 1), at most 5 intervals."""
    if peak <= 0:
        return 1.0, 1.0
    mag = 10.0 ** math.floor(math.log10(peak))
    for m in (0.1, 0.2, 0.5, 1, 2, 5, 10):
        step = max(m * mag, 1.0)
        if peak / step <= 5:
            return math.ceil(peak / step - 1e-9) * step, step
    return peak, peak  # not reached: 10 × mag > peak


def blended_factor(tiers: Sequence[tuple[int, Decimal]], tokens: int) -> Fraction:
    """M(T) of docs/pricing.md §3: Σ tokens_in_tier × multiplier / T, M(0) = 1."""
    if tokens <= 0:
        return Fraction(1)
    weight = Fraction(0)
    for i, (start, mult) in enumerate(tiers):
        end = tiers[i + 1][0] if i + 1 < len(tiers) else tokens
        if tokens > start:
            weight += (min(tokens, end) - start) * Fraction(mult)
    return weight / tokens


def figure(title: str, svg: str, note: str = "", wide: bool = False) -> str:
    """A titled chart; `note` is already-escaped HTML shown under it."""
    cls = "chart wide" if wide else "chart"
    note_html = f"<p class=note>{note}</p>" if note else ""
    return f"<figure class='{cls}'><figcaption>{escape(title)}</figcaption>{svg}{note_html}</figure>"


def _svg(height: float, label: str, body: str, width: int = W) -> str:
    return (
        f"<svg viewBox='0 0 {width} {height:.0f}' width='{width}' height='{height:.0f}' role=img "
        f"aria-label='{escape(label)}'>{body}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    klass = f" class={cls}" if cls else ""
    return f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}'{klass}>{escape(text)}</text>"


def _hline(x1: float, x2: float, y: float, color: str, dash: bool = False, width: float = 1) -> str:
    d = " stroke-dasharray='6 4'" if dash else ""
    return f"<line x1='{x1:.1f}' x2='{x2:.1f}' y1='{y:.1f}' y2='{y:.1f}' stroke='{color}' stroke-width='{width}'{d}/>"


def _y_axis(axis: float, step: float, y_of: Callable[[float], float], height: float) -> str:
    parts = []
    ticks = round(axis / step)
    for i in range(ticks + 1):
        v = i * step
        y = y_of(v)
        parts.append(_hline(_L, W - _R, y, "#e6e8eb"))
        parts.append(_text(_L - 6, y + 4, short(v), "end", "ax"))
    parts.append(_hline(_L, W - _R, height - _B, "#9aa0a6"))
    return "".join(parts)


def _day_labels(days: int, x_of: Callable[[float], float], height: float) -> str:
    marks = [1, *range(5, days + 1, 5)]
    if days - marks[-1] >= 2:
        marks.append(days)
    return "".join(_text(x_of(d), height - _B + 16, str(d), "middle", "ax") for d in marks)


def daily_tokens(values: Sequence[int], elapsed: int, daily_quota: int | None, month: str) -> str:
    """Bars of tokens per day of the month; days past `elapsed` shaded; the daily quota as a line.
    Bars above the daily quota are orange."""
    n = max(len(values), 1)
    height = 230.0
    pw, ph = W - _L - _R, height - _T - _B
    axis, step = nice_axis(max([*values, daily_quota or 0]) * 1.08)
    slot = pw / n

    def y_of(v: float) -> float:
        return _T + ph - ph * v / axis

    parts = [_y_axis(axis, step, y_of, height)]
    if elapsed < n:
        x0 = _L + slot * elapsed
        parts.append(f"<rect x='{x0:.1f}' y='{_T}' width='{W - _R - x0:.1f}' height='{ph:.1f}' fill='#f3f4f6'/>")
        parts.append(_text((x0 + W - _R) / 2, _T + 14, "rest of the month", "middle", "ax"))
    for i, v in enumerate(values):
        if v <= 0:
            continue
        over = daily_quota is not None and v > daily_quota
        top = y_of(v)
        parts.append(
            f"<rect x='{_L + slot * (i + 0.15):.1f}' y='{top:.1f}' width='{slot * 0.7:.1f}' "
            f"height='{_T + ph - top:.1f}' fill='{ORANGE if over else BLUE}'>"
            f"<title>{escape(month)}-{i + 1:02d}: {v:,} tokens</title></rect>"
        )
    parts.append(_day_labels(n, lambda d: _L + slot * (d - 0.5), height))
    if daily_quota is not None:
        y = y_of(daily_quota)
        parts.append(_hline(_L, W - _R, y, RED, dash=True, width=1.5))
        parts.append(_text(W - _R - 2, y - 5, f"daily quota {daily_quota:,}", "end", "qt"))
    return _svg(height, "tokens per day", "".join(parts))


def cost_bars(rows: Sequence[tuple[str, Decimal, int]], currency: str, label: str) -> str:
    """Horizontal bars of list cost per key (label, cost, tokens), largest first."""
    if not rows:
        return _svg(40, label, _text(8, 24, "no usage this month", cls="ax"))
    rows = sorted(rows, key=lambda r: (-r[1], r[0]))
    total = sum((r[1] for r in rows), Decimal(0))
    peak = max(r[1] for r in rows) or Decimal(1)
    label_w, value_w, row_h = 120, 210, 26
    pw = W - label_w - value_w
    parts = []
    for i, (key, cost, tokens) in enumerate(rows):
        y = 8 + i * row_h
        name = key if len(key) <= 18 else key[:17] + "…"
        share = f"{cost / total * 100:.0f}%" if total else "–"
        width = max(float(cost / peak) * pw, 1.5 if cost else 0)
        parts.append(
            f"<g><title>{escape(key)}: {escape(str(cost))} {escape(currency)}, {tokens:,} tokens</title>"
            + _text(label_w - 8, y + 15, name, "end")
            + f"<rect x='{label_w}' y='{y + 3}' width='{width:.1f}' height='{row_h - 8}' rx='2' "
            f"fill='{PALETTE[i % len(PALETTE)]}'/>"
            + _text(label_w + width + 6, y + 15, f"{cost} {currency} · {share} · {short(tokens)} tok", cls="ax")
            + "</g>"
        )
    return _svg(16 + len(rows) * row_h, label, "".join(parts))


def tier_position(
    tiers: Sequence[tuple[int, Decimal]], billable: int, projected: int | None, billable_label: str, width: int = 960
) -> str:
    """The tier bands side by side, each the same width (piecewise-linear scale; the open last
    band ends at twice its start or past the largest marker), a fill up to `billable` with a
    marker there, and a hollow marker (and lighter fill) up to the projected month-end."""
    n = len(tiers)
    left, right, top, bar_h = 16, 24, 40, 36
    band = (width - left - right) / n
    last_end = max(2 * tiers[-1][0], 1, math.ceil(max(billable, projected or 0) * 1.25))

    def x_of(t: int) -> float:
        for i, (start, _) in enumerate(tiers):
            end = tiers[i + 1][0] if i + 1 < n else last_end
            if t < end or i + 1 == n:
                return left + band * (i + min(1.0, (t - start) / max(end - start, 1)))
        return width - right  # not reached

    x = x_of(billable)
    px = x_of(projected) if projected is not None and projected != billable else None
    parts = []
    for i, (start, mult) in enumerate(tiers):
        bx = left + band * i
        parts.append(
            f"<rect x='{bx:.1f}' y='{top}' width='{band:.1f}' height='{bar_h}' "
            f"fill='{TIER_FILLS[min(i, len(TIER_FILLS) - 1)]}' stroke='#fff'/>"
        )
        # the band's caption keeps clear of the marker line
        tx, anchor = (bx + band - 6, "end") if bx <= x < bx + band / 2 + 30 else (bx + 6, "start")
        parts.append(_text(tx, top + 14, f"tier {i + 1}", anchor, "ax"))
        parts.append(_text(tx, top + 28, f"×{mult}", anchor, "tm"))
        parts.append(_text(bx + 2, top + bar_h + 14, short(start), "start", "ax"))
    parts.append(_text(width - right, top + bar_h + 14, "∞", "end", "ax"))
    strip = top + bar_h - 7
    if px is not None and px > x:
        parts.append(f"<rect x='{x:.1f}' y='{strip}' width='{px - x:.1f}' height='7' fill='{GREY}' opacity='.45'/>")
    if billable > 0:
        parts.append(f"<rect x='{left}' y='{strip}' width='{x - left:.1f}' height='7' fill='{BLUE}'/>")
    parts.append(
        f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top - 8}' y2='{top + bar_h}' stroke='{INK}' stroke-width='2'/>"
        f"<path d='M{x - 6:.1f} {top - 16} L{x + 6:.1f} {top - 16} L{x:.1f} {top - 7} Z' fill='{INK}'/>"
    )
    anchor = "start" if x < width / 2 else "end"
    parts.append(_text(x + (8 if anchor == "start" else -8), top - 8, f"{billable_label} {billable:,}", anchor, "mk"))
    if px is not None:
        y = top + bar_h + 19
        parts.append(
            f"<path d='M{px:.1f} {y} L{px + 5:.1f} {y + 8} L{px - 5:.1f} {y + 8} Z' fill='#fff' stroke='{INK}'/>"
        )
        p_anchor = "start" if px < width / 2 else "end"
        label = f"projected month-end {projected:,}"
        parts.append(_text(px + (8 if p_anchor == "start" else -8), y + 8, label, p_anchor, "ax"))
    return _svg(top + bar_h + 34, "position in the volume tiers", "".join(parts), width)


def burn_down(cumulative: Sequence[int], days_in_month: int, estimated: int, quota: int | None, clip_id: str) -> str:
    """Cumulative tokens through each elapsed day, a dashed projection to `estimated` at month
    end, and the monthly quota as a line (the part of the area above it is orange)."""
    elapsed = len(cumulative)
    height = 240.0
    pw, ph = W - _L - _R, height - _T - _B
    axis, step = nice_axis(max([estimated, quota or 0, *cumulative]) * 1.08)
    dim = max(days_in_month, 1)

    def x_of(d: float) -> float:
        return _L + pw * d / dim

    def y_of(v: float) -> float:
        return _T + ph - ph * v / axis

    parts = [_y_axis(axis, step, y_of, height)]
    points = [(0.0, 0)] + [(float(d + 1), c) for d, c in enumerate(cumulative)]
    line = " ".join(f"{x_of(d):.1f},{y_of(c):.1f}" for d, c in points)
    area = f"{line} {x_of(elapsed):.1f},{y_of(0):.1f}"
    parts.append(f"<polygon points='{area}' fill='{BLUE}' opacity='.18'/>")
    if quota is not None:
        parts.append(
            f"<clipPath id='{escape(clip_id)}'><rect x='0' y='0' width='{W}' height='{y_of(quota):.1f}'/></clipPath>"
            f"<polygon points='{area}' fill='{ORANGE}' opacity='.45' clip-path='url(#{escape(clip_id)})'/>"
        )
    parts.append(f"<polyline points='{line}' fill='none' stroke='{BLUE}' stroke-width='2.2'/>")
    last = cumulative[-1] if cumulative else 0
    if elapsed < dim:
        parts.append(
            f"<line x1='{x_of(elapsed):.1f}' y1='{y_of(last):.1f}' x2='{x_of(dim):.1f}' y2='{y_of(estimated):.1f}' "
            f"stroke='{GREY}' stroke-width='2' stroke-dasharray='6 4'/>"
        )
        parts.append(f"<circle cx='{x_of(dim):.1f}' cy='{y_of(estimated):.1f}' r='4' fill='{GREY}'/>")
        parts.append(_text(x_of(dim) - 8, y_of(estimated) - 6, f"projected {estimated:,}", "end", "ax"))
    parts.append(f"<circle cx='{x_of(elapsed):.1f}' cy='{y_of(last):.1f}' r='4' fill='{BLUE}'/>")
    if quota is not None:
        y = y_of(quota)
        parts.append(_hline(_L, W - _R, y, RED, dash=True, width=1.5))
        parts.append(_text(_L + 6, y - 5, f"monthly quota {quota:,}", "start", "qt"))
    parts.append(_day_labels(dim, x_of, height))
    return _svg(height, "cumulative tokens against the monthly quota", "".join(parts))
