"""Cross-outlet deduplication of statements: the same quote printed by many outlets is one statement.

Outlets differ in quotation marks, dashes, spacing, capitalisation and how much of a quotation they
print, so equality is tested on a normalised form, with containment for partial quotations and a
fuzzy ratio for small edits ("the war" vs "this war").
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
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


@lru_cache(maxsize=8192)
def _shape(c: str) -> tuple[str, int, str | None]:
    """(padded words, word count, first word trigram or None) of a normalised candidate: the same
    few hundred recent statements per speaker are loaded into every ingest batch's candidates
    (8,192 of them: twenty speakers' worth)."""
    words = _words(c)
    tokens = words.split(" ", 3)
    head = " ".join(tokens[:3]) if len(tokens) >= 3 and tokens[2] else None
    return f" {words} ", len(c.split()), head


def _length_window(n: int) -> tuple[int, int]:
    """Lengths a text of `n` characters can have and still score `_FUZZY_THRESHOLD` against one of
    length n: fuzz.ratio is 100 * (1 - indel distance / total length), and the indel distance is
    at least the difference in length (a character's slack either side for float rounding)."""
    keep = 1 - _FUZZY_THRESHOLD / 100  # the share of the total length the distance may be
    return int(n * (1 - keep) / (1 + keep)) - 1, int(n * (1 + keep) / (1 - keep)) + 1


def _trigrams(tokens: Sequence[str]) -> list[str]:
    return [" ".join(tokens[i : i + 3]) for i in range(len(tokens) - 2)]


class Candidates:
    """Normalised statements prepared once for many `find_same` lookups.

    The ingester checks thousands of new statements against the same few hundred recent ones per
    speaker, and most match none of them; scanning every candidate for containment on every lookup
    cost more than the rest of storing. A quotation contained in another shares its first three
    words with it, so those words name the few candidates worth checking by the rules: found by
    `str.find` over all candidates' words joined in one string (per-trigram postings, rebuilt for
    every ingest batch, measured: 17% of the ingester's main-process time).
    """

    def __init__(self, normalised: Iterable[str] = ()) -> None:
        self.texts: list[str] = []
        self._padded: list[str] = []  # " word word " for containment on word boundaries
        self._nwords: list[int] = []
        self._first: dict[str, int] = {}
        self._heads: dict[str, set[int]] = {}  # first word trigram -> candidates starting with it
        self._few: set[int] = set()  # candidates of fewer than three words: always checked
        self._hay = ""  # "\n".join of the padded words of the first `len(self._starts)` candidates
        self._starts: list[int] = []  # where each of them begins in `_hay`
        self._loose: set[int] = set()  # added or reworded since `_hay` was joined: checked one by one
        # (len, index) sorted, and the texts in that order: the fuzzy ratio's window is a slice.
        self._by_length: list[tuple[int, int]] = []
        self._length_ordered: list[str] = []
        # In bulk, as `append` one by one would leave them, with one sort for the length order
        # (a writer builds ~3,200 candidates per ingest batch: 14.5 ms a batch one by one).
        for c in normalised:
            self._add(c, in_length_order=False)
        self._by_length = sorted((len(c), i) for i, c in enumerate(self.texts))
        self._length_ordered = [self.texts[i] for _, i in self._by_length]

    def __len__(self) -> int:
        return len(self.texts)

    def append(self, c: str) -> None:
        self._add(c, in_length_order=True)

    def _add(self, c: str, *, in_length_order: bool) -> None:
        self._first.setdefault(c, len(self.texts))
        self.texts.append(c)
        self._padded.append("")
        self._nwords.append(0)
        self._index(len(self.texts) - 1, c, in_length_order=in_length_order)

    def _index(self, i: int, c: str, *, remove: bool = False, in_length_order: bool = True) -> None:
        """Candidate `i` (reading `c`) into the indexes, or out of them; `in_length_order=False`
        leaves the length order to the caller (a bulk build sorts it once)."""
        padded, nwords, head = _shape(c)
        change = set.discard if remove else set.add
        if head is not None:
            change(self._heads.setdefault(head, set()), i)
        else:
            change(self._few, i)
        if remove:
            at = bisect.bisect_left(self._by_length, (len(c), i))
            del self._by_length[at], self._length_ordered[at]
            return
        self._padded[i], self._nwords[i] = padded, nwords
        self._loose.add(i)
        if in_length_order:
            at = bisect.bisect_left(self._by_length, (len(c), i))
            self._by_length.insert(at, (len(c), i))
            self._length_ordered.insert(at, c)

    def replace(self, i: int, c: str) -> None:
        """Candidate `i` now reads `c` (a longer wording of the same statement was found)."""
        old = self.texts[i]
        self._index(i, old, remove=True)
        self.texts[i] = c
        self._index(i, c)  # loose from now on: `_hay` may still hold the old words (a harmless extra hit)
        if self._first.get(old) == i:
            del self._first[old]
            for j, t in enumerate(self.texts):
                if t == old:
                    self._first[old] = j
                    break
        if self._first.get(c, i) >= i:
            self._first[c] = i

    def _containing(self, needle: str) -> set[int]:
        """Candidates whose padded words contain `needle` (" w1 w2 w3 "), and perhaps a few more."""
        if len(self._loose) > 64:
            self._hay = "\n".join(self._padded)
            self._starts = list(itertools.accumulate((len(p) + 1 for p in self._padded[:-1]), initial=0))
            self._loose = set()
        found = {i for i in self._loose if needle in self._padded[i]}
        at = self._hay.find(needle)
        while at != -1:
            i = bisect.bisect_right(self._starts, at) - 1
            found.add(i)
            at = self._hay.find(needle, self._starts[i + 1] if i + 1 < len(self._starts) else len(self._hay))
        return found

    def _window(self, n: int) -> tuple[int, int]:
        lo, hi = _length_window(n)
        return (
            bisect.bisect_left(self._by_length, (lo, -1)),
            bisect.bisect_right(self._by_length, (hi, len(self.texts))),
        )

    def near_in_length(self, n: int) -> list[str]:
        """The candidates a text of `n` characters may match by the fuzzy ratio, shortest first."""
        start, stop = self._window(n)
        return self._length_ordered[start:stop]

    def most_alike(self, a: str) -> int | None:
        """The candidate scoring highest by the fuzzy ratio, at least its threshold (the lowest
        index among equals, as a scan in order would pick); only those of a near length are
        scored: scoring every candidate cost more than the rest of the lookup."""
        start, stop = self._window(len(a))
        scoring = process.extract(
            a, self._length_ordered[start:stop], scorer=fuzz.ratio, score_cutoff=_FUZZY_THRESHOLD, limit=None
        )
        if not scoring:
            return None
        best = max(score for _text, score, _j in scoring)
        return min(self._by_length[start + j][1] for _text, score, j in scoring if score == best)

    def worth_checking(self, tokens: Sequence[str], a_long: bool) -> list[int]:
        """Every candidate that could contain, or be contained in, a text of these words, in order."""
        found: set[int] = set(self._few)
        if a_long:
            if len(tokens) >= 3:
                found |= self._containing(f" {tokens[0]} {tokens[1]} {tokens[2]} ")
            else:  # a long text of few word tokens ("we - will - go"): rare, check them all
                found = set(range(len(self.texts)))
        for g in set(_trigrams(tokens)):
            found |= self._heads.get(g, set())
        return sorted(found)


def find_same(text: str, candidates: Sequence[str] | Candidates, *, normalised: str | None = None) -> int | None:
    """Index of a candidate that is the same statement as `text`, or None.

    `candidates` are already normalised (as stored), and so is `text` when `normalised` is given.
    The same rules as `same_statement`, in one pass: equality, then containment of a partial
    quotation, then the fuzzy ratio, scored in C by rapidfuzz, since an article's statements are
    checked against hundreds of stored ones.
    """
    cands = candidates if isinstance(candidates, Candidates) else Candidates(candidates)
    a = normalise_quote(text) if normalised is None else normalised
    if not a or not cands:
        return None
    equal = cands._first.get(a)
    if equal is not None:
        return equal
    words = _words(a)
    pa = f" {words} "
    a_long = len(a.split()) >= _MIN_CONTAINED_WORDS
    n = len(a)
    for i in cands.worth_checking(words.split(), a_long):
        c = cands.texts[i]
        if not c:
            continue
        if n <= len(c):
            if a_long and pa in cands._padded[i]:
                return i
        elif cands._nwords[i] >= _MIN_CONTAINED_WORDS and cands._padded[i] in pa:
            return i
    return cands.most_alike(a)


def statement_fingerprint(speaker: str | None, text: str, *, normalised: str | None = None) -> str:
    """Stable hash of speaker and normalised text, for a unique key in the archive."""
    who = normalise_quote(speaker or "")
    payload = f"{who}\x1f{normalise_quote(text) if normalised is None else normalised}".encode()
    return hashlib.sha256(payload).hexdigest()[:32]
