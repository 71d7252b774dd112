"""Cross-outlet dedup helpers: normalisation, same-statement test and fingerprints."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.statements.dedup import normalise_quote, same_statement, statement_fingerprint


def test_normalise_unifies_marks_case_and_edges() -> None:
    assert normalise_quote("  “Ukraine’s path is IRREVERSIBLE.”  ") == "ukraine's path is irreversible"
    assert normalise_quote("a — b") == normalise_quote("a – b") == "a - b"
    assert normalise_quote("line\nbreak\t here") == "line break here"


def test_same_statement_exact_and_partial() -> None:
    full = "Ukraine’s path to NATO is irreversible, and nothing will change that."
    assert same_statement(full, '"Ukraine\'s path to NATO is irreversible, and nothing will change that"')
    assert same_statement("path to NATO is irreversible", full)
    assert not same_statement("irreversible", full)  # one word is too little to call it the same
    assert not same_statement("to NATO", full)


def test_same_statement_fuzzy() -> None:
    a = "We will support Ukraine for as long as it takes."
    b = "We will support Ukraine as long as it takes."
    assert same_statement(a, b)
    assert not same_statement(a, "Russia will never accept NATO troops in Ukraine.")
    assert not same_statement("", a)


def test_fingerprint_stable_and_normalised() -> None:
    a = statement_fingerprint("Mark Rutte", "“Irreversible path.”")
    assert a == statement_fingerprint("mark rutte", '"irreversible path"')
    assert a != statement_fingerprint("Donald Trump", "irreversible path")
    assert statement_fingerprint(None, "x y") == statement_fingerprint(None, "X Y")
    assert len(a) == 32


def _reference_find_same(text: str, candidates: list[str]) -> int | None:
    """The rules as first written: one candidate at a time (the oracle for the prepared set)."""
    from rapidfuzz import fuzz, process

    from bot.statements.dedup import _words, normalise_quote

    a = normalise_quote(text)
    if not a or not candidates:
        return None
    for i, c in enumerate(candidates):
        if c == a:
            return i
    aw = _words(a)
    for i, c in enumerate(candidates):
        if not c:
            continue
        cw = _words(c)
        if len(a) <= len(c):
            if len(a.split()) >= 3 and f" {aw} " in f" {cw} ":
                return i
        elif len(c.split()) >= 3 and f" {cw} " in f" {aw} ":
            return i
    best = process.extractOne(a, candidates, scorer=fuzz.ratio, score_cutoff=90.0)
    return int(best[2]) if best else None


_VOCAB = ["we", "will", "defend", "every", "inch", "of", "allied", "territory", "the", "war", "this", "must", "end", "now", "-", "it's", "war."]
_phrases = st.lists(st.sampled_from(_VOCAB), min_size=0, max_size=9).map(" ".join)


@settings(max_examples=400)
@given(text=_phrases, candidates=st.lists(_phrases, max_size=12), swap=st.integers(0, 11), new=_phrases)
def test_prepared_candidates_match_the_rules_one_by_one(text: str, candidates: list[str], swap: int, new: str) -> None:
    from bot.statements.dedup import Candidates, find_same, normalise_quote

    normalised = [normalise_quote(c) for c in candidates]
    prepared = Candidates(normalised)
    assert find_same(text, prepared) == _reference_find_same(text, normalised)
    if normalised:  # a candidate reworded in place (the longer wording won) is matched as it now reads
        i = swap % len(normalised)
        normalised[i] = normalise_quote(new)
        prepared.replace(i, normalised[i])
        assert find_same(text, prepared) == _reference_find_same(text, normalised)


@settings(max_examples=120, deadline=None)
@given(
    texts=st.lists(_phrases, min_size=1, max_size=5),
    candidates=st.lists(_phrases, min_size=60, max_size=160),
    swaps=st.lists(st.tuples(st.integers(0, 159), _phrases), max_size=80),
    extra=st.lists(_phrases, max_size=80),
)
def test_many_candidates_reworded_and_added_match_the_rules_one_by_one(
    texts: list[str], candidates: list[str], swaps: list[tuple[int, str]], extra: list[str]
) -> None:
    """Past 64 candidates the prepared set searches their words joined in one string, and keeps
    later additions and rewordings aside until the next join: still the same answers."""
    from bot.statements.dedup import Candidates, find_same, normalise_quote

    normalised = [normalise_quote(c) for c in candidates]
    prepared = Candidates(normalised)
    for text in texts:
        assert find_same(text, prepared) == _reference_find_same(text, normalised)
    for n, (i, new) in enumerate(swaps):
        normalised[i % len(normalised)] = normalise_quote(new)
        prepared.replace(i % len(normalised), normalised[i % len(normalised)])
        if n < len(extra):
            normalised.append(normalise_quote(extra[n]))
            prepared.append(normalised[-1])
        assert find_same(texts[n % len(texts)], prepared) == _reference_find_same(texts[n % len(texts)], normalised)


def test_the_fuzzy_ratios_length_window_never_drops_a_match() -> None:
    """Only candidates of a near length are scored: every pair of lengths rapidfuzz scores at the
    threshold or above must fall inside the window (texts that differ in length only score highest)."""
    from rapidfuzz import fuzz

    from bot.statements.dedup import _FUZZY_THRESHOLD, Candidates

    for n in range(1, 400):
        prepared = Candidates(["a" * m for m in range(1, 400)])
        near = {len(t) for t in prepared.near_in_length(n)}
        scoring = {m for m in range(1, 400) if fuzz.ratio("a" * n, "a" * m) >= _FUZZY_THRESHOLD}
        assert scoring <= near, (n, sorted(scoring - near))
        assert len(near) <= len(scoring) + 4  # and no wider than its slack: a character either side
