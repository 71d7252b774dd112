"""Sparklines: counts over time as one line of block characters (pure).

Plain Unicode renders the same in Slack, Discord and a terminal; no image, no table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

BARS = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int]) -> str:
    """`[0, 1, 4, 2]` → "▁▂█▄": zero is the lowest bar, any count at least the second."""
    top = max(counts, default=0)
    if top <= 0:
        return BARS[0] * len(counts)
    steps = len(BARS) - 1
    return "".join(BARS[0] if n <= 0 else BARS[max(1, round(steps * n / top))] for n in counts)


def buckets(times: Iterable[datetime], end: datetime, span: timedelta, n: int,
            weights: Iterable[int] | None = None) -> list[int]:
    """Counts of `times` in `n` equal buckets covering (end - span, end], oldest first."""
    width = span / n
    start = end - span
    out = [0] * n
    for t, w in zip(times, weights if weights is not None else iter(lambda: 1, None), strict=False):
        if start < t <= end:
            out[min(n - 1, int((t - start) / width))] += w
    return out
