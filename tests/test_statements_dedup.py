"""Cross-outlet dedup helpers: normalisation, same-statement test and fingerprints."""

from __future__ import annotations

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
