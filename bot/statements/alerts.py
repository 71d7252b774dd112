"""Which statements may alert a newsroom: a tracked figure's, attributed with enough confidence.

`ALERT_THRESHOLD` is the lowest `Statement.confidence` that alerts. It was chosen on PolNeAR dev
(84 real articles, never trained on) with `benchmarks/extraction.py`: the lowest confidence at
which alerts for the split's ten most-named sources reach 0.97 precision, as score.py counts them.
Statements below it are still stored and searchable; they are only kept out of the alert outbox.
"""

from __future__ import annotations

from bot.statements.model import Statement

ALERT_THRESHOLD = 0.8


def alertable(st: Statement, threshold: float = ALERT_THRESHOLD) -> bool:
    """True when the statement is confident enough to alert (no confidence: the rules alone, kept)."""
    return st.confidence is None or st.confidence >= threshold
