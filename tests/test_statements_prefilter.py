"""The extraction pre-filter is sound: it never turns away a text the full extractor finds anything in.

`extract_with` returns [] at once for texts `may_hold_statement` rules out (most feed
entries hold no statement, and laying them out was most of the cost). Soundness is checked on the
seed articles, every paragraph and sentence pair of them, the labelled cases, the ingest farm's
prose, and generated text built from the pieces the filter reasons about (cue words of each kind,
commas, colons, apostrophes, "that", names, auxiliaries).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_figures
from bot.statements import Gazetteer, extract_with, may_hold_statement
from bot.statements.extract import _extract
from bot.text.clean import clean_text
from tests.feedfarm import farm_items

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2025, 6, 24)


GAZ = Gazetteer.build(load_figures(ROOT / "config" / "newsbot.yaml"))


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return GAZ


def corpus() -> list[str]:
    seeds = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    cases = yaml.safe_load((ROOT / "tests" / "data" / "statements_cases.yaml").read_text(encoding="utf-8"))["cases"]
    texts = seeds + [c["text"] for c in cases]
    for s in seeds:
        pars = [p for p in s.split("\n") if p.strip()]
        texts += pars
        sentences = [x for p in pars for x in re.split(r"(?<=[.!?”])\s+", p)]
        texts += [" ".join(sentences[i : i + 2]) for i in range(len(sentences))]
        # the same sentences without their quotation marks: reported speech and cues alone
        texts += [re.sub(r"[“”\"‘]", "", x) for x in sentences]
        texts += [x.replace(",", "") for x in sentences]
    texts += [clean_text(it.body, take_title=False).text for it in farm_items("pf", 60)]
    return texts


def test_never_rejects_what_the_extractor_finds(gaz: Gazetteer) -> None:
    texts = corpus()
    found = rejected = 0
    for text in texts:
        full = _extract(text, gaz, DAY)
        if full:
            found += 1
            assert may_hold_statement(text), text
        elif not may_hold_statement(text):
            rejected += 1
        assert extract_with(text, gaz, DAY) == full
    # the check is not vacuous: plenty of texts hold statements, and plenty are turned away
    assert found > 200 and rejected > 100, (found, rejected, len(texts))


def test_turns_away_prose_without_speech(gaz: Gazetteer) -> None:
    farm = [clean_text(it.body, take_title=False).text for it in farm_items("pf2", 40)]
    assert sum(not may_hold_statement(t) for t in farm) >= 30  # "states", "pledge" without a clause
    plain = "The alliance met in Brussels on Tuesday. Ministers discussed the budget and the border states."
    assert not may_hold_statement(plain) and extract_with(plain, gaz, DAY) == []
    for holds in (  # each holds a statement (checked below) and must pass
        "Rutte said the alliance would stand firm.",  # that-less clause
        "Rutte said that the alliance stands firm.",
        "The alliance, Rutte said, would stand firm.",
        "According to officials, the talks failed on Tuesday.",
        "Rutte urged allies to spend more.",
        "Rutte will tell allies on Tuesday that the alliance stands firm.",
        "Rutte told reporters the alliance would stand firm.",
        "Rutte made a statement: the talks will resume.",
        "He called it 'a disgrace'.",
        "The alliance will stand firm, " + "x" * 1200 + " Rutte said.",  # the comma far back
        "“We stand firm.”",
    ):
        assert may_hold_statement(holds), holds
        assert extract_with(holds, gaz, DAY), holds


PIECES = [
    "Rutte", "Mark Rutte", "Zakharova", "Trump", "the NATO chief", "a senior official", "officials", "He", "he",
    "She", "They", "John Smith", "Moscow", "The Kremlin", "Ukraine’s", "Ukraine's", "don't",
    " said", " says", " told", " told reporters", " stressed", " added", " urged", " called on", " warned",
    " made a surprising announcement", " according to", "According to", " insisted", " described it as",
    " states", " pledge", " assured", " informed", " reminded", " tell", " allies", " reporters", " tells", " report", " reported", " wrote", " adding", " noted", " asked",
    " that", " the", " alliance", " would", " will", " is", " was", " to", " spend", " talks", " failed",
    " remained", " forces", " armed", " quickly", " on Tuesday", " in a statement", " more",
    ",", ", ", ".", ". ", ":", ": ", ";", "!", "?", "\n", "\n\n", " ", "\t", "\u00a0", "—", "(", ")",
    "'", " 'a", "\n'Hi", "‘", "’", "“", "”", '"', "«", "»", "„",
    "statement", "announcement", "remarks", "message", "warning", "quipped", "x",
]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from([DAY, date(2023, 1, 1)]))
def test_generated_text(parts: list[str], day: date) -> None:
    text = "".join(parts)
    full = _extract(text, GAZ, day)
    assert not full or may_hold_statement(text)
    assert extract_with(text, GAZ, day) == full


QUOTELESS = [p for p in PIECES if not any(m in p for m in "'‘’“”\"«»„")]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(QUOTELESS), max_size=40))
def test_generated_text_without_quotation_marks(parts: list[str]) -> None:
    """Without quotation marks only the cue and colon reasoning stands between text and []."""
    text = "".join(parts)
    full = _extract(text, GAZ, DAY)
    assert not full or may_hold_statement(text)


def test_cue_words_start_with_a_whole_word() -> None:
    """may_hold_statement looks cues up by their first word: each must be all word characters."""
    from bot.statements.lexicon import CUE_FORMS

    assert CUE_FORMS and all(re.fullmatch(r"\w+", f.split(" ")[0]) for f in CUE_FORMS)
