"""Extraction never fails and its offsets always hold, whatever the text (messy scraped input)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.statements import extract_statements
from bot.statements.figures import Figure, Title

FIGURES = [
    Figure("Mark Rutte", ("Rutte",), (Title("NATO chief", date(2024, 10, 1)),), "m"),
    Figure("Maria Zakharova", ("Zakharova",), (), "f"),
]
FRAGMENTS = [
    "Rutte", "Zakharova", "the NATO chief", "he", "she", "They", " said", " told reporters", " that ",
    "according to", "“", "”", '"', "‘", "’", "'", ",", ".", ":", "\n", "\n\n", " ", "Ukraine’s", "don’t",
    "John Smith", "officials", " stressed", " adding that", "so-called", "We will win", "the talks",
    "Press \"Enter\" to skip to content", "*", "?", "!", "—", "Mr.", "U.S.", "called on", " to ",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60), st.sampled_from([None, date(2023, 1, 1)]))
def test_offsets_hold_on_arbitrary_text(parts: list[str], published: date | None) -> None:
    text = "".join(parts)
    for s in extract_statements(text, FIGURES, published):
        assert text[s.start : s.end] == s.text
        assert s.kind in ("direct", "reported")
        assert s.text.strip()
        assert s.figure == (s.speaker in ("Mark Rutte", "Maria Zakharova"))
