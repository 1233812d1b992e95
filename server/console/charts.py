"""Small inline SVG charts drawn on the server (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

FONT = "Noto Sans CJK SC, Microsoft YaHei, sans-serif"


def _color(ratio: float) -> str:
    if ratio >= 0.9:
        return "#1a7f37"
    if ratio >= 0.6:
        return "#b35900"
    return "#c62828"


def _open_svg(width: int, height: int, title: str) -> list[str]:
    """The opening tag and the title of a chart."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
            f'font-family="{FONT}">',
            f'<text x="0" y="18" font-size="14" font-weight="bold" fill="#1f2328">'
            f'{escape(title)}</text>']


def _row_label(label_w: int, y: int, name: str) -> str:
    return (f'<text x="{label_w - 8}" y="{y + 15}" font-size="13" text-anchor="end" '
            f'fill="#1f2328">{escape(name)}</text>')


def percent_bars(rows: Sequence[tuple[str, int, int]], title: str, width: int = 560) -> Markup:
    """Horizontal bars of ``done / total`` per row, coloured green / amber / red."""
    label_w, bar_h, gap, top = 120, 20, 10, 30
    bar_w = width - label_w - 110
    height = top + len(rows) * (bar_h + gap) + 6
    parts = _open_svg(width, height, title)
    for i, (name, done, total) in enumerate(rows):
        y = top + i * (bar_h + gap)
        ratio = done / total if total else 0.0
        fill = max(2.0, bar_w * ratio) if total else 0.0
        parts.append(_row_label(label_w, y, name))
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{bar_h}" rx="3" '
                     f'fill="#eceef1"/>')
        if total:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{fill:.1f}" height="{bar_h}" '
                         f'rx="3" fill="{_color(ratio)}"/>')
        text = f"{ratio:.0%}（{done}/{total}）" if total else "无农户"
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 15}" font-size="13" '
                     f'fill="#1f2328">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def count_bars(rows: Sequence[tuple[str, int]], title: str, color: str = "#c62828",
               width: int = 560) -> Markup:
    """Horizontal bars of plain counts (e.g. households not visited in time)."""
    label_w, bar_h, gap, top = 120, 20, 10, 30
    bar_w = width - label_w - 70
    peak = max((n for _, n in rows), default=0) or 1
    height = top + len(rows) * (bar_h + gap) + 6
    parts = _open_svg(width, height, title)
    for i, (name, n) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(_row_label(label_w, y, name))
        if n:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{max(2.0, bar_w * n / peak):.1f}" '
                         f'height="{bar_h}" rx="3" fill="{color}"/>')
        parts.append(f'<text x="{label_w + (bar_w * n / peak if n else 0) + 8:.1f}" y="{y + 15}" '
                     f'font-size="13" fill="#1f2328">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
