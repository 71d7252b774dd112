"""Statement extraction: what tracked public figures said in an article (pure functions, no I/O).

    from bot.statements import extract_statements
    extract_statements(article_text, figures, published=date(2025, 6, 9))

`extract_statements` builds (and caches) a `Gazetteer` from the figures; callers that extract many
articles with the same figures may build it once with `Gazetteer.build(figures)` and call
`extract_with(text, gazetteer, published)`. Both return [] at once for a text that
`may_hold_statement` rules out (no quotation mark, no speech cue that could open a clause, no
speech noun before a colon): most feed entries, for a small part of the cost of extraction.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.statements.extract import extract_with, may_hold_statement
    from bot.statements.figures import Figure
    from bot.statements.model import Statement
    from bot.statements.speakers import Gazetteer

__all__ = ["Gazetteer", "Statement", "extract_statements", "extract_with", "may_hold_statement"]

# Loaded on first use: the ingester's main process stores and deduplicates statements (the model,
# `dedup`, `alerts`) but extracts none (its parse workers do), and the extractor's rules, lexicon
# and learned weights would cost it ~11 MB resident for nothing.
_WHERE = {
    "extract_with": "bot.statements.extract",
    "may_hold_statement": "bot.statements.extract",
    "Statement": "bot.statements.model",
    "Gazetteer": "bot.statements.speakers",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def extract_statements(
    text: str, figures: Sequence[Figure] | Gazetteer, published: date | None = None
) -> list[Statement]:
    """Direct quotations and reported speech in `text`, ordered by offset.

    `published` dates the article so that titles resolve to whoever held them then ("NATO chief"
    is Stoltenberg before 2024-10-01, Rutte after); None means today.
    """
    from bot.statements.extract import extract_with
    from bot.statements.speakers import Gazetteer

    gazetteer = figures if isinstance(figures, Gazetteer) else Gazetteer.build(figures)
    return extract_with(text, gazetteer, published)
