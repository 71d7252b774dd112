"""Scoring extracted statements against labelled ones (shared by the benchmark and the tests).

Matching rule: a predicted statement matches a gold one of the same kind when the token-overlap
F1 of their texts is at least 0.5 (tokens: case-folded words, quotation marks and punctuation
ignored, curly and straight apostrophes the same). Pairs are matched one-to-one, best overlap
first. Offsets are not compared: the labelled set is written without them, and the same words
at another offset would be a different bug that the offset tests catch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

MATCH_THRESHOLD = 0.5
_TOKEN = re.compile(r"\w+(?:'\w+)?")


@dataclass(frozen=True)
class Gold:
    """A labelled statement: kind, speaker (None = unattributable) and text."""

    kind: str
    speaker: str | None
    text: str


@dataclass
class Scores:
    """Counts over a set of cases; the ratios are properties so that scores can be summed."""

    tp: Counter[str] = field(default_factory=Counter)  # by kind
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    speaker_ok: Counter[str] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def add(self, other: Scores) -> None:
        for mine, theirs in (
            (self.tp, other.tp), (self.fp, other.fp), (self.fn, other.fn), (self.speaker_ok, other.speaker_ok)
        ):
            mine.update(theirs)
        self.misses.extend(other.misses)

    def precision(self, kind: str = "direct") -> float:
        d = self.tp[kind] + self.fp[kind]
        return self.tp[kind] / d if d else 1.0

    def recall(self, kind: str = "direct") -> float:
        d = self.tp[kind] + self.fn[kind]
        return self.tp[kind] / d if d else 1.0

    def f1(self, kind: str = "direct") -> float:
        p, r = self.precision(kind), self.recall(kind)
        return 2 * p * r / (p + r) if p + r else 0.0

    def speaker_accuracy(self, kind: str | None = None) -> float:
        """Share of matched statements (of `kind`, or all) whose speaker is right."""
        kinds = [kind] if kind else ["direct", "reported"]
        total = sum(self.tp[k] for k in kinds)
        return sum(self.speaker_ok[k] for k in kinds) / total if total else 1.0


def tokens(text: str) -> list[str]:
    """Case-folded word tokens; quote marks and punctuation do not count."""
    return _TOKEN.findall(text.casefold().replace("’", "'").replace("‘", "'"))


def token_f1(a: str, b: str) -> float:
    """Token-overlap F1 between two texts (bag of words)."""
    ta, tb = Counter(tokens(a)), Counter(tokens(b))
    common = sum((ta & tb).values())
    if not common:
        return 0.0
    p, r = common / sum(ta.values()), common / sum(tb.values())
    return 2 * p * r / (p + r)


def same_speaker(a: str | None, b: str | None) -> bool:
    """Speakers agree, ignoring case and a leading "the" ("The Kremlin" = "Kremlin")."""

    def norm(s: str | None) -> str | None:
        if s is None:
            return None
        s = s.casefold().strip()
        return s[4:] if s.startswith("the ") else s

    return norm(a) == norm(b)


class _Pred(Protocol):
    """What scoring needs from a prediction (bot.statements.Statement satisfies it)."""

    @property
    def kind(self) -> str: ...
    @property
    def speaker(self) -> str | None: ...
    @property
    def text(self) -> str: ...


def score(predicted: Iterable[_Pred], gold: Sequence[Gold], label: str = "") -> Scores:
    """Match predictions to gold one-to-one (best overlap first) and count per kind."""
    preds = list(predicted)
    pairs: list[tuple[float, int, int]] = []
    for i, p in enumerate(preds):
        for j, g in enumerate(gold):
            if p.kind == g.kind:
                f = token_f1(p.text, g.text)
                if f >= MATCH_THRESHOLD:
                    pairs.append((f, i, j))
    pairs.sort(reverse=True)
    used_p: set[int] = set()
    used_g: set[int] = set()
    s = Scores()
    for _, i, j in pairs:
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        kind = gold[j].kind
        s.tp[kind] += 1
        if same_speaker(preds[i].speaker, gold[j].speaker):
            s.speaker_ok[kind] += 1
        else:
            s.misses.append(f"{label}: speaker {preds[i].speaker!r} != {gold[j].speaker!r}: {gold[j].text[:60]}")
    for i, p in enumerate(preds):
        if i not in used_p:
            s.fp[p.kind] += 1
            s.misses.append(f"{label}: extra {p.kind} ({p.speaker}): {p.text[:70]}")
    for j, g in enumerate(gold):
        if j not in used_g:
            s.fn[g.kind] += 1
            s.misses.append(f"{label}: missed {g.kind} ({g.speaker}): {g.text[:70]}")
    return s
