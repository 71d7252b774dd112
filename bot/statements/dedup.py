"""Cross-outlet deduplication of statements: the same quote printed by many outlets is one statement.

Outlets differ in quotation marks, dashes, spacing, capitalisation and how much of a quotation they
print, so equality is tested on a normalised form, with containment for partial quotations and a
fuzzy ratio for small edits ("the war" vs "this war").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from rapidfuzz import fuzz, process

_QUOTES = str.maketrans(
    {
        "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "′": "'",
        "–": "-", "—": "-", "‒": "-", "―": "-", "…": "...", "\u00a0": " ",
    }
)
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[\w']+")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_MIN_CONTAINED_WORDS = 3
_FUZZY_THRESHOLD = 90.0


def normalise_quote(text: str) -> str:
    """Casefold, unify quote marks/dashes/whitespace and strip punctuation at both ends."""
    t = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    t = _SPACES.sub(" ", t).strip()
    return _EDGE.sub("", t)


def same_statement(a_text: str, b_text: str) -> bool:
    """True when two quotations are the same statement as printed by different outlets.

    Equal after normalisation; or one (at least three words) contained in the other on word
    boundaries, since outlets print partial quotations; or a fuzzy ratio of at least 90.
    """
    a, b = normalise_quote(a_text), normalise_quote(b_text)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short.split()) >= _MIN_CONTAINED_WORDS and f" {short} " in f" {_words(long_)} ":
        return True
    if len(short.split()) >= _MIN_CONTAINED_WORDS and _words(short) in _words(long_):
        return f" {_words(short)} " in f" {_words(long_)} "
    return fuzz.ratio(a, b) >= _FUZZY_THRESHOLD


@lru_cache(maxsize=8192)
def _words(text: str) -> str:
    return " ".join(_WORD.findall(text))


class Candidates:
    """Normalised statements prepared once for many `find_same` lookups.

    The ingester checks thousands of new statements against the same few hundred recent ones per
    speaker; splitting and re-joining every candidate's words on every lookup cost more than the
    matching itself.
    """

    def __init__(self, normalised: Iterable[str] = ()) -> None:
        self.texts: list[str] = []
        self._padded: list[str] = []  # " word word " for containment on word boundaries
        self._nwords: list[int] = []
        self._first: dict[str, int] = {}
        for c in normalised:
            self.append(c)

    def __len__(self) -> int:
        return len(self.texts)

    def append(self, c: str) -> None:
        self._first.setdefault(c, len(self.texts))
        self.texts.append(c)
        self._padded.append(f" {_words(c)} ")
        self._nwords.append(len(c.split()))

    def replace(self, i: int, c: str) -> None:
        """Candidate `i` now reads `c` (a longer wording of the same statement was found)."""
        old = self.texts[i]
        self.texts[i], self._padded[i], self._nwords[i] = c, f" {_words(c)} ", len(c.split())
        if self._first.get(old) == i:
            del self._first[old]
            for j, t in enumerate(self.texts):
                if t == old:
                    self._first[old] = j
                    break
        if self._first.get(c, i) >= i:
            self._first[c] = i


def find_same(text: str, candidates: Sequence[str] | Candidates) -> int | None:
    """Index of a candidate that is the same statement as `text`, or None.

    `candidates` are already normalised (as stored). The same rules as `same_statement`, in one
    pass: equality, then containment of a partial quotation, then the fuzzy ratio, scored in C by
    rapidfuzz, since an article's statements are checked against hundreds of stored ones.
    """
    cands = candidates if isinstance(candidates, Candidates) else Candidates(candidates)
    a = normalise_quote(text)
    if not a or not cands:
        return None
    equal = cands._first.get(a)
    if equal is not None:
        return equal
    pa = f" {_words(a)} "
    a_long = len(a.split()) >= _MIN_CONTAINED_WORDS
    n = len(a)
    for i, (c, pc, nw) in enumerate(zip(cands.texts, cands._padded, cands._nwords, strict=True)):
        if not c:
            continue
        if n <= len(c):
            if a_long and pa in pc:
                return i
        elif nw >= _MIN_CONTAINED_WORDS and pc in pa:
            return i
    best = process.extractOne(a, cands.texts, scorer=fuzz.ratio, score_cutoff=_FUZZY_THRESHOLD)
    return int(best[2]) if best else None


def statement_fingerprint(speaker: str | None, text: str) -> str:
    """Stable hash of speaker and normalised text, for a unique key in the archive."""
    who = normalise_quote(speaker or "")
    payload = f"{who}\x1f{normalise_quote(text)}".encode()
    return hashlib.sha256(payload).hexdigest()[:32]
