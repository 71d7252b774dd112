"""Compile a word list into one prefix-tree regex.

Python's `re` tries every branch of a flat alternation at every position, so a gazetteer of a few
hundred names and titles scanned that way dominates extraction time. Factoring shared prefixes
("NATO chief|NATO head|NATO boss" -> "NATO (?:chief|head|boss)") lets the engine reject most
positions on the first character, which is what keeps extraction well above 200k words/s.
Not pyahocorasick: exact strings only (no flexible spaces, hyphens, dots, apostrophes), and as a
second pass beside the cue regex it scanned 16-22% slower than the one regex (benchmarks/libraries.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""
Trie = dict[str, "Trie"]

# How a character of a phrase is matched: spaces and hyphens interchangeably (and across a line
# break), curly and straight apostrophes alike, dots optional ("U.S." = "US").
_FLEX_UNITS = {" ": r"[\s\-]+", "-": r"[\s\-]+", "'": "['’]", "’": "['’]", ".": r"\.?"}


def _units(phrase: str, flex: bool) -> list[str]:
    out: list[str] = []
    for ch in phrase:
        unit = _FLEX_UNITS.get(ch) if flex else (r"\s+" if ch == " " else None)
        unit = unit if unit is not None else re.escape(ch)
        if out and unit == out[-1] and unit == r"[\s\-]+":
            continue
        out.append(unit)
    return out


def trie_pattern(phrases: Iterable[str], flex: bool = True, fold: bool = False) -> str:
    """A regex (no boundaries) matching any of `phrases`, longest alternative preferred."""
    root: Trie = {}
    for phrase in phrases:
        node = root
        for unit in _units(phrase.casefold() if fold else phrase, flex):
            node = node.setdefault(unit, {})
        node[_END] = {}
    return _emit(root)


def _emit(node: Trie) -> str:
    branches = [unit + _emit(child) for unit, child in sorted(node.items()) if unit != _END]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:
        return f"(?:{body})?" if len(branches) > 1 or len(branches[0]) > 1 else body + "?"
    return body
