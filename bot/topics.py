"""Topic tagging by whole-word keyword rules, so "Natoli" is not NATO."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache


@lru_cache(maxsize=32)
def _compile(keywords: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so a phrase wins over its prefix; possessives ("NATO's") still match.
    alts = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in sorted(keywords, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)


def tag_topics(text: str, topics: Mapping[str, Iterable[str]], extra: Iterable[str] = ()) -> list[str]:
    """The configured topics the text mentions, plus `extra` (a feed's own topics), sorted."""
    found = set(extra)
    for name, keywords in topics.items():
        kws = tuple(k for k in keywords if k)
        if kws and _compile(kws).search(text):
            found.add(name)
    return sorted(found)
