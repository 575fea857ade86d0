"""Charts drawn on the server as inline SVG: no script, no inline style, so the strict CSP holds
and the chart shows with JavaScript off. Colours come from classes in postbox.css. Each chart is
an image with a title and a description for screen readers; the page also shows the numbers as
a table, so nothing is only in the picture.
"""
from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 640
LABEL_W = 240
BAR_W = 280
ROW_H = 46
BAR_H = 28


def _frame(uid: str, title: str, desc: str, height: int, body: list[str]) -> Markup:
    head = (f'<svg class="chart" id="{escape(uid)}" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="{WIDTH}" height="{height}" aria-labelledby="{escape(uid)}-t '
            f'{escape(uid)}-d" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{escape(uid)}-t">{escape(title)}</title>'
            f'<desc id="{escape(uid)}-d">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def funnel(uid: str, title: str, desc: str, stages: list[tuple[str, int, str]]) -> Markup:
    """Horizontal bars, one per stage (label, count, the count as text for people), scaled to
    the largest stage."""
    top = max([count for _, count, _ in stages] + [1])
    body = []
    for n, (label, count, shown) in enumerate(stages):
        y = 8 + n * ROW_H
        width = round(BAR_W * count / top) if count else 0
        body.append(
            f'<text class="chart-label" x="{LABEL_W - 12}" y="{y + BAR_H / 2 + 5}" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<rect class="chart-track" x="{LABEL_W}" y="{y}" width="{BAR_W}" height="{BAR_H}" '
            f'rx="3"/>'
            f'<rect class="chart-bar chart-bar-{n}" x="{LABEL_W}" y="{y}" width="{width}" '
            f'height="{BAR_H}" rx="3"/>'
            f'<text class="chart-value" x="{LABEL_W + BAR_W + 10}" y="{y + BAR_H / 2 + 5}">'
            f'{escape(shown)}</text>')
    return _frame(uid, title, desc, 8 + len(stages) * ROW_H, body)


def columns(uid: str, title: str, desc: str, series: list[tuple[str, int, str]],
            top_text: str, ticks: tuple[int, ...] = ()) -> Markup:
    """Vertical bars, one per entry (label, count, count as text); the axis is labelled 0 and
    ``top_text`` (the largest count); entry labels appear under the ``ticks`` only."""
    height, base, left = 170, 140, 44
    top = max([count for _, count, _ in series] + [1])
    step = (WIDTH - left - 8) / max(len(series), 1)
    body = [f'<line class="chart-axis" x1="{left}" y1="{base}" x2="{WIDTH - 4}" y2="{base}"/>',
            f'<text class="chart-tick" x="{left - 6}" y="{base}" text-anchor="end">0</text>',
            (f'<text class="chart-tick" x="{left - 6}" y="16" text-anchor="end">'
             f'{escape(top_text)}</text>')]
    for n, (label, count, shown) in enumerate(series):
        h = round((base - 12) * count / top) if count else 0
        x = left + n * step + 1
        body.append(f'<rect class="chart-bar chart-bar-0" x="{x:.1f}" y="{base - h}" '
                    f'width="{max(step - 2, 1):.1f}" height="{h}"><title>{escape(label)}: '
                    f'{escape(shown)}</title></rect>')
        if n in ticks:  # the outermost labels align to the chart's edges, so none is cut
            anchor, at = (("start", x) if n == 0 else ("end", x + step) if n == len(series) - 1
                          else ("middle", x + step / 2))
            body.append(f'<text class="chart-tick" x="{at:.1f}" y="{base + 18}" '
                        f'text-anchor="{anchor}">{escape(label)}</text>')
    return _frame(uid, title, desc, height, body)
