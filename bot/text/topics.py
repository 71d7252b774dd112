"""Topic tagging by whole-word keyword rules, so "Natoli" is not NATO."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

# Characters that `re.IGNORECASE` matches to an ASCII letter although `str.lower()` does not map
# them to it (dotted and dotless I, long s, Kelvin sign). A text holding one of them skips the
# substring shortcut below (tests/test_prep_equivalence.py checks this list on every code point).
IGNORECASE_EXTRAS = "\u0130\u0131\u017f\u212a"


@lru_cache(maxsize=32)
def _compile(keywords: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so a phrase wins over its prefix; possessives ("NATO's") still match.
    alts = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in sorted(keywords, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=32)
def _rule(keywords: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[str, ...] | None]:
    """The topic's pattern, and the lower-cased first words of its keywords (None: no shortcut).

    Every match of the pattern starts with one keyword's first word (only spaces in a keyword are
    widened, to `\\s+`), so in an ASCII-cased text the pattern can only match at or after the first
    place where one of those words occurs in the lower-cased text: `str.find` finds that place in
    C, and the regex (dear: it tries every position) starts there or is not run at all.
    """
    words = {k.split(" ")[0].lower() for k in keywords}
    ok = all(w.isascii() and w for w in words)
    # a word that extends another ("zelenskyy" after "zelensky") never occurs before it does
    firsts = tuple(sorted(w for w in words if not any(v != w and w.startswith(v) for v in words)))
    return _compile(keywords), firsts if ok else None


def tag_topics(text: str, topics: Mapping[str, Iterable[str]], extra: Iterable[str] = ()) -> list[str]:
    """The configured topics the text mentions, plus `extra` (a feed's own topics), sorted."""
    found = set(extra)
    low: str | None = None
    if text.isascii() or not any(ch in text for ch in IGNORECASE_EXTRAS):
        low = text.lower()  # same length and offsets as `text`: only U+0130 lowers to two chars
    for name, keywords in topics.items():
        if name in found:
            continue
        kws = tuple(k for k in keywords if k)
        if not kws:
            continue
        pattern, firsts = _rule(kws)
        start = 0
        if low is not None and firsts is not None:
            hits = [i for i in (low.find(f) for f in firsts) if i >= 0]
            if not hits:
                continue
            start = min(hits)
        if pattern.search(text, start):
            found.add(name)
    return sorted(found)
