"""Small judgements about written names that the ranker uses as features or filters.

Kept apart from the gazetteer: these look at one name as written, not at the article's figures.
"""

from __future__ import annotations

import re

# "(D-Wis.)", "(R-Utah)", "(R)", "D-N.Y.": a party and state tag after a legislator's name,
# never a person in itself.
_PARTY_TAG = re.compile(r"^\(?[DRI](?:-[A-Z][\w.]*(?:\s[A-Z][\w.]*)?)?\.?\)?$")


def is_party_tag(name: str) -> bool:
    """True for a party-state tag such as "D-Wis" or "R" (the scanner sees them as capitalised runs)."""
    return bool(_PARTY_TAG.match(name.strip()))


def looks_lowercase_elsewhere(text: str, word: str) -> bool:
    """True when the word is also written in lower case in the article ("Unfortunately" at a
    sentence's start is an adverb, not a surname): proper names keep their capital."""
    low = word.lower()
    if low == word:
        return False
    return f" {low} " in text or f" {low}," in text or f" {low}." in text


_TITLE_ABBREVIATIONS = frozenset(
    {"del", "rev", "sen", "sens", "rep", "reps", "gov", "gen", "dr", "mr", "mrs", "ms", "lt", "col", "sgt", "prof", "st", "hon", "amb", "adm", "capt", "cpl", "maj", "pres", "supt", "insp", "fr"}
)


def is_bare_title(name: str) -> bool:
    """True for a title abbreviation standing alone ("Del", "Rev."): the name follows it."""
    return name.strip().rstrip(".").casefold() in _TITLE_ABBREVIATIONS
