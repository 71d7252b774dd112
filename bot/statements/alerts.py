"""Which statements may alert a newsroom: a tracked figure's, attributed with enough confidence.

A statement alerts only when its `confidence` (the ranker's probability for its speaker, times the
cue model's probability that reported speech is speech at all) reaches the threshold of its kind.
The thresholds were chosen on PolNeAR dev (84 real articles, never trained on) with
`benchmarks/extraction.py`, for precision: at (0.8, 0.95) alerts for the split's ten most-named
sources, counted as score.py counts them, reach 0.97 precision on dev with alert recall 0.34
(ungated: 0.86 / 0.55). A wrong name in front of a newsroom costs more than a missed alert. Quotations are far more often right than reported speech, hence the two thresholds. Statements
below them are stored and searchable as before; they are only kept out of the alert outbox.
"""

from __future__ import annotations

from bot.statements.model import Statement

ALERT_THRESHOLD = 0.8  # direct quotations
ALERT_THRESHOLD_REPORTED = 0.95  # reported speech


def alertable(st: Statement) -> bool:
    """True when the statement is confident enough to alert (no confidence: the rules alone, kept)."""
    if st.confidence is None:
        return True
    return st.confidence >= (ALERT_THRESHOLD if st.kind == "direct" else ALERT_THRESHOLD_REPORTED)
