"""Which tracked figure a user means: name, alias, title ("the nato chief"), surname, or a typo.

Pure: built once from the configured figures. Exact forms resolve; a near miss ("zelenksy") does
not silently pick someone but returns "did you mean" candidates, because quoting the wrong person
in a newsroom is worse than asking.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from rapidfuzz import fuzz, process

from bot.statements.figures import Figure

FUZZY_CUTOFF = 75.0
_ARTICLES = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


def fold(text: str) -> str:
    """Casefold and strip accents and punctuation: "Orbán" and "orban" are the same key."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    t = re.sub(r"[’'`´]s\b", "", t)  # possessive: "zelensky's"
    t = re.sub(r"[^\w\s-]", " ", t).replace("-", " ")
    return re.sub(r"\s+", " ", t).strip()


@dataclass(frozen=True)
class Resolution:
    figure: Figure | None
    suggestions: tuple[str, ...] = ()  # canonical names, best first
    via: str = ""  # name | alias | title | surname | fuzzy


class FigureIndex:
    """Lookup tables over the tracked figures."""

    def __init__(self, figures: list[Figure] | tuple[Figure, ...]) -> None:
        self.figures = tuple(figures)
        self.by_name: dict[str, Figure] = {f.name: f for f in self.figures}
        self._exact: dict[str, Figure] = {}
        self._surname: dict[str, list[Figure]] = {}
        self._titles: dict[str, list[tuple[Figure, date | None, date | None]]] = {}
        for f in self.figures:
            for written in f.names:
                self._exact.setdefault(fold(written), f)
            last = fold(f.name).split(" ")[-1]
            self._surname.setdefault(last, []).append(f)
            for t in f.titles:
                self._titles.setdefault(fold(t.title), []).append((f, t.since, t.until))
        self._choices = {key: fig.name for key, fig in self._exact.items()}

    def resolve(self, written: str, day: date | None = None) -> Resolution:
        key = fold(_ARTICLES.sub("", written.strip()))
        if not key:
            return Resolution(None)
        if key in self._exact:
            fig = self._exact[key]
            return Resolution(fig, via="name" if key == fold(fig.name) else "alias")
        holders = self._title_holders(key, day or date.today())
        if len(holders) == 1:
            return Resolution(holders[0], via="title")
        if len(holders) > 1:
            return Resolution(None, tuple(f.name for f in holders), via="title")
        by_last = self._surname.get(key.split(" ")[-1], []) if " " not in key else []
        if len(by_last) == 1:
            return Resolution(by_last[0], via="surname")
        return Resolution(None, self.suggest(key), via="fuzzy")

    def _title_holders(self, key: str, day: date) -> list[Figure]:
        out: list[Figure] = []
        for fig, since, until in self._titles.get(key, []):
            if (since is None or since <= day) and (until is None or day < until) and fig not in out:
                out.append(fig)
        return out

    def suggest(self, key: str, limit: int = 3) -> tuple[str, ...]:
        """Canonical names that look like a typo of `key` (each name once, best first)."""
        if not self._choices:
            return ()
        found = process.extract(fold(key), list(self._choices), scorer=fuzz.WRatio, limit=limit * 3,
                                score_cutoff=FUZZY_CUTOFF)
        names: list[str] = []
        for choice, _score, _ in found:
            name = self._choices[choice]
            if name not in names:
                names.append(name)
        return tuple(names[:limit])

    def current_titles(self, fig: Figure, day: date | None = None) -> list[str]:
        day = day or date.today()
        return [t.title for t in fig.titles if t.held_on(day)]
