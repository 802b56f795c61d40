"""The pictures of a rendered agreement, as inline SVG (no scripts, no external files):
which clause overrides which, and when each clause is in force."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

import attrs

from creditrules.base._clauses import clause_key

__all__ = ["Bar", "Node", "precedence_svg", "timeline_svg"]

_W, _H, _GAP_X, _GAP_Y, _LANE = 180, 44, 24, 56, 12


@attrs.frozen
class Node:
    """A clause in the precedence picture; ``beats`` are the ids it prevails over."""

    id: str
    label: str
    beats: tuple[str, ...]
    default: bool = False
    ordered: tuple[str, ...] = ()  # prevails by a declared precedence list (dashed)


def precedence_svg(nodes: Sequence[Node], title: str, key: str) -> str:
    """Clauses in rows: a clause sits above the clauses it prevails over; an arrow runs from
    the prevailing clause to the one it overrides (dashed: by a declared precedence list).
    ``key`` makes the arrowhead's id unique on a page holding several pictures."""
    marker = "arrow-" + "".join(ch if ch.isalnum() else "-" for ch in key)
    by_id = {n.id: n for n in nodes}
    above: dict[str, set[str]] = {n.id: set() for n in nodes}
    for n in nodes:
        for target in (*n.beats, *n.ordered):
            if target in above:
                above[target].add(n.id)
    rank: dict[str, int] = {}

    def depth(node: str, seen: frozenset[str] = frozenset()) -> int:
        if node not in rank:
            winners = above[node] - seen
            rank[node] = 1 + max((depth(w, seen | {node}) for w in winners), default=-1)
        return rank[node]

    for n in nodes:
        depth(n.id)
    rows: dict[int, list[Node]] = {}
    for n in nodes:
        rows.setdefault(rank[n.id], []).append(n)
    where: dict[str, tuple[int, int]] = {}
    width = 0
    for r, members in sorted(rows.items()):
        members.sort(key=lambda n: (clause_key(n.label), n.id))
        for i, n in enumerate(members):
            where[n.id] = (_GAP_X + i * (_W + _GAP_X), _GAP_Y // 2 + r * (_H + _GAP_Y))
        width = max(width, _GAP_X + len(members) * (_W + _GAP_X))
    height = _GAP_Y // 2 + (max(rows, default=0) + 1) * (_H + _GAP_Y)
    long_edges = sum(
        1 for n in nodes for t in (*n.beats, *n.ordered) if t in rank and rank[t] - rank[n.id] > 1
    )
    full = width + long_edges * _LANE + _GAP_X
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {full} '
        f'{height}" width="{full}" height="{height}" class="precedence">',
        f"<title>{escape(title)}</title>",
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>',
    ]
    # An arrow to the next row goes straight down; a longer one runs out to a lane of its
    # own on the right and back, through the gaps between rows, so it never crosses a box.
    edges = [
        (n.id, t, dashed)
        for n in nodes
        for t, dashed in [*((t, False) for t in n.beats), *((t, True) for t in n.ordered)]
        if t in where
    ]
    lanes = 0
    for source, target, dashed in edges:
        (x1, y1), (x2, y2) = where[source], where[target]
        style = ' stroke-dasharray="5 4"' if dashed else ""
        common = f'fill="none" stroke="#333" stroke-width="1.5"{style} marker-end="url(#{marker})"'
        if rank[target] - rank[source] == 1:
            parts.append(f'<path d="M {x1 + _W // 2} {y1 + _H} L {x2 + _W // 2} {y2}" {common}/>')
            continue
        lanes += 1
        lane = width + lanes * _LANE
        # Horizontal runs stay in the gaps between rows, at a height of their own.
        drop = 8 + (lanes % 5) * 8
        parts.append(
            f'<path d="M {x1 + _W // 2} {y1 + _H} V {y1 + _H + drop} H {lane} '
            f'V {y2 - drop} H {x2 + _W // 2} V {y2}" {common}/>'
        )
    for n in nodes:
        x, y = where[n.id]
        dash = ' stroke-dasharray="4 3"' if by_id[n.id].default else ""
        parts.append(
            f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" '
            f'fill="#f4f6fb" stroke="#345"{dash}/>'
        )
        parts.append(
            f'<text x="{x + _W // 2}" y="{y + 18}" text-anchor="middle" '
            f'font-size="13" font-weight="bold">{escape(n.label)}</text>'
        )
        parts.append(
            f'<text x="{x + _W // 2}" y="{y + 35}" text-anchor="middle" '
            f'font-size="11">{escape(_short(n.id))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@attrs.frozen
class Bar:
    """One clause's time in force (``None``: open at that end)."""

    label: str
    start: dt.date | None
    end: dt.date | None


def timeline_svg(bars: Sequence[Bar], term: Bar, title: str) -> str:
    """A bar per clause over the agreement's term, with a tick per year and a dashed line
    where an amendment (any clause's start inside the term) takes effect."""
    dates = [d for b in (*bars, term) for d in (b.start, b.end) if d is not None]
    first = term.start or min(dates, default=dt.date(2000, 1, 1))
    last = term.end or max([*dates, first + dt.timedelta(days=365)])
    span = max((last - first).days, 1)
    label_w, plot_w, row_h = 200, 560, 22
    width, height = label_w + plot_w + 30, 40 + row_h * (len(bars) + 1) + 20

    def x(day: dt.date | None, default: dt.date) -> int:
        day = min(max(day or default, first), last)
        return label_w + (day - first).days * plot_w // span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" class="timeline">',
        f"<title>{escape(title)}</title>",
    ]
    bottom = 30 + row_h * (len(bars) + 1)
    for year in range(first.year, last.year + 2):
        day = dt.date(year, 1, 1)
        if first <= day <= last:
            parts.append(
                f'<line x1="{x(day, first)}" y1="22" x2="{x(day, first)}" '
                f'y2="{bottom}" stroke="#ccc"/>'
            )
            parts.append(
                f'<text x="{x(day, first)}" y="16" font-size="11" '
                f'text-anchor="middle">{year}</text>'
            )
    for day in sorted({b.start for b in bars if b.start and first < b.start <= last}):
        parts.append(
            f'<line x1="{x(day, first)}" y1="22" x2="{x(day, first)}" y2="{bottom}" '
            'stroke="#a33" stroke-dasharray="4 3"/>'
        )
    for i, bar in enumerate([term, *bars]):
        y = 28 + i * row_h
        x1, x2 = x(bar.start, first), x(bar.end, last)
        fill = "#345" if i == 0 else "#6a8fc7"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" font-size="11" text-anchor="end">'
            f"{escape(_short(bar.label, 30))}</text>"
        )
        parts.append(
            f'<rect x="{x1}" y="{y + 2}" width="{max(x2 - x1, 2)}" '
            f'height="{row_h - 8}" rx="3" fill="{fill}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
