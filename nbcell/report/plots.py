"""Inline SVG scatter plots for the report page (no JavaScript library, no external file)."""

from __future__ import annotations

import math
from html import escape

STATUS_COLORS = {"clean": "#2b8a3e", "drc": "#e8590c", "lvs": "#7048e8", "failed": "#c92a2a", "timeout": "#868e96"}

W, H, PAD = 360, 300, 44  # plot size and axis margin, px


def _ticks(hi: float) -> list[float]:
    """About five round tick values from 0 to ``hi``."""
    step = 10 ** math.floor(math.log10(hi / 5)) if hi > 0 else 1
    for mult in (1, 2, 5, 10):
        if hi / (step * mult) <= 6:
            step *= mult
            break
    return [i * step for i in range(int(hi / step) + 1)]


def scatter(points: list[tuple[str, str, float, float]], xlabel: str, ylabel: str, title: str,
            empty: str = "no cell has both values") -> str:
    """An SVG scatter of (cell name, status, x µm, y µm) with the y = x line; ``<title>`` names each point.

    ``empty``: the text shown instead when there are no points."""
    if not points:
        return (f'<figure class="plot"><figcaption>{escape(title)}</figcaption>'
                f'<p class="empty">{escape(empty)}</p></figure>')
    hi = max(max(p[2] for p in points), max(p[3] for p in points)) * 1.05
    scale = (W - PAD - 10) / hi, (H - PAD - 10) / hi

    def sx(v: float) -> float:
        return round(PAD + v * scale[0], 1)

    def sy(v: float) -> float:
        return round(H - PAD - v * scale[1], 1)

    out = [f'<figure class="plot"><figcaption>{escape(title)}</figcaption>'
           f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">']
    for t in _ticks(hi):
        out.append(f'<line class="grid" x1="{sx(t)}" y1="{sy(0)}" x2="{sx(t)}" y2="{sy(hi)}"/>'
                   f'<line class="grid" x1="{sx(0)}" y1="{sy(t)}" x2="{sx(hi)}" y2="{sy(t)}"/>'
                   f'<text x="{sx(t)}" y="{H - PAD + 14}" text-anchor="middle">{t:g}</text>'
                   f'<text x="{PAD - 4}" y="{sy(t) + 4}" text-anchor="end">{t:g}</text>')
    out.append(f'<line class="diag" x1="{sx(0)}" y1="{sy(0)}" x2="{sx(hi)}" y2="{sy(hi)}"/>')
    out.append(f'<text x="{(W + PAD) / 2}" y="{H - 6}" text-anchor="middle">{escape(xlabel)}</text>'
               f'<text transform="translate(12 {(H - PAD) / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    for name, status, x, y in points:
        color = STATUS_COLORS.get(status, "#000")
        out.append(f'<circle cx="{sx(x)}" cy="{sy(y)}" r="3.5" fill="{color}" data-cell="{escape(name)}">'
                   f'<title>{escape(name)}: {y:g} vs {x:g} µm ({escape(status)})</title></circle>')
    out.append("</svg></figure>")
    return "".join(out)
