"""The learned cue words of the reported-speech proposer, found by one prefix-tree regex: the same
words a flat alternation finds, apart from the lexicon's cues and from quotations."""

from __future__ import annotations

import re
from datetime import date

import pytest

from bot.config import load_config
from bot.statements import rules
from bot.statements.reported import learned_cues
from bot.statements.speakers import Gazetteer

DAY = date(2025, 6, 9)

ARTICLE = (
    "Councillor Ada Brennan scoffed at the volunteers' plan on Monday, and warned that the winter budget "
    "would run out by February.\n\n"
    "Mayor Tomas Verhoef declined to name a successor. He fretted about the cost of the new tram line in the city "
    "centre, and said the council should have listened.\n\n"
    "“We scoffed at them twice,” Brennan said, adding that the report cheered nobody.\n\n"
    "The ferry operator grumbled the plan was late, the minutes show."
)
VOCAB = ("scoff", "scoffed", "scoffing", "scoffs", "fretted", "cheered", "grumbled")  # beyond the lexicon's cues


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer(load_config().figure_list())


def test_learned_cue_words_skip_lexicon_cues_and_quotations(gazetteer: Gazetteer) -> None:
    doc = rules._prepare(ARTICLE, gazetteer, DAY)
    got = [(ARTICLE[c.start : c.end], c.word) for c in learned_cues(doc, (*VOCAB, "said", "warned"))]
    words = [w for _, w in got]
    assert "said" not in words and "warned" not in words  # the lexicon's cues already
    assert words == ["scoffed", "fretted", "cheered", "grumbled"]  # not the "scoffed" inside the quotation
    assert all(text.lower() == word for text, word in got)


def test_the_prefix_tree_finds_what_a_flat_alternation_finds(gazetteer: Gazetteer) -> None:
    text = "They scoff, scoffed-off critics scoffed, scoffings aside, then kept scoffing; rescoffed, fretted, said."
    doc = rules._prepare(text, gazetteer, DAY)
    flat = re.compile(r"(?<![\w\-’'])(?:" + "|".join(re.escape(v) for v in sorted(VOCAB, key=len, reverse=True)) + r")(?![\w\-])")
    expected = [(m.start(), m.end()) for m in flat.finditer(text) if not rules._in_quote(doc, m.start())]
    taken = [(c.start, c.end) for c in doc.cues]
    expected = [(s, e) for s, e in expected if not any(a < e and s < b for a, b in taken)]
    assert [(c.start, c.end) for c in learned_cues(doc, VOCAB)] == expected
    assert expected  # the sentence does hold learned cue words


def test_spans_at_one_cue_share_its_context_but_not_each_others_features(gazetteer: Gazetteer) -> None:
    from bot.statements.reported import proposals

    text = "Councillor Ada Brennan criticized the cost of the new tram line in the city centre, and left early."
    doc = rules._prepare(text, gazetteer, DAY)
    at_cue = [p for p in proposals(doc, set()) if p.cue == "criticized"]
    assert len(at_cue) >= 2  # the noun phrase, and the noun phrase with its prepositional phrases
    for p in at_cue:
        assert sum(f.startswith("form=") and "|" not in f for f in p.feats) == 1
        assert sum(f.startswith("first=") for f in p.feats) == 1
        assert sum(f.startswith("pv=") for f in p.feats) == 1
    assert len({tuple(f for f in p.feats if f.startswith(("pv=", "nx=", "subj=")) and "|form=" not in f) for p in at_cue}) == 1
