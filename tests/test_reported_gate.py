"""The reported-speech proposer's cheap paths: the learned cue words found by one prefix-tree
regex, and the gate that drops a proposal before its span features are computed only when the
cue model's weights prove it cannot be kept."""

from __future__ import annotations

import re
from datetime import date

import pytest

from bot.config import load_config
from bot.statements import rules
from bot.statements.reported import Proposal, cue_probability, gate, learned_cues, proposals
from bot.statements.speakers import Gazetteer
from bot.statements.weights import shipped

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


def _key(p: Proposal) -> tuple[int, int, int]:
    return p.start, p.end, p.cue_start


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


def _check_gate(gazetteer: Gazetteer, cue: dict[str, float], threshold: float) -> int:
    """Proposals with the gate are those without it minus some the weights prove fall under the
    threshold; returns how many the gate dropped."""
    doc = rules._prepare(ARTICLE, gazetteer, DAY)
    every = {_key(p): p for p in proposals(doc, set(), VOCAB)}
    g = gate(cue, threshold)
    assert g is not None
    doc = rules._prepare(ARTICLE, gazetteer, DAY)
    gated = {_key(p): p for p in proposals(doc, set(), VOCAB, g)}
    assert set(gated) <= set(every)
    for k, p in gated.items():
        assert sorted(p.feats) == sorted(every[k].feats)
    dropped = [p for k, p in every.items() if k not in gated]
    for p in dropped:
        assert cue_probability(p, cue) < threshold, (ARTICLE[p.start : p.end], p.feats)
    return len(dropped)


def test_the_gate_drops_only_proposals_the_weights_reject(gazetteer: Gazetteer) -> None:
    # hand-set weights: the word "declined" and noun-phrase objects are almost never speech here
    cue = {"bias": 0.5, "w=declined": -6.0, "form=np": -4.0, "first=the": 0.8, "q0": 0.3, "finite": 0.4,
           "opens_np": 0.2, "w=said": 2.0, "form=that": 1.5}
    assert _check_gate(gazetteer, cue, 0.6) > 0
    assert _check_gate(gazetteer, {**cue, "w=declined": 6.0, "form=np": 4.0}, 0.01) == 0  # nothing to prove
    # a span's own features can lift it over: an object opening with "the" is kept, so not dropped unseen
    assert _check_gate(gazetteer, {"form=np": -1.0, "first=the": 3.0}, 0.6) >= 0


def test_the_gate_is_sound_under_the_shipped_weights(gazetteer: Gazetteer) -> None:
    w = shipped()
    if not w.cue:
        pytest.skip("no shipped cue model")
    _check_gate(gazetteer, w.cue, w.cue_threshold)


def test_rule_spans_are_always_scored(gazetteer: Gazetteer) -> None:
    doc = rules._prepare(ARTICLE, gazetteer, DAY)
    every = proposals(doc, set(), VOCAB)
    spans = {(p.start, p.end) for p in every}
    doc = rules._prepare(ARTICLE, gazetteer, DAY)
    never = gate({"bias": -50.0}, 0.5)  # no proposal can pass
    gated = proposals(doc, spans, VOCAB, never)
    assert {(p.start, p.end) for p in gated} == spans  # the rules' spans stay: their probability is a prior
    assert all("rule_span" in p.feats for p in gated)


def test_no_gate_for_a_threshold_that_keeps_or_drops_everything() -> None:
    assert gate({"bias": 1.0}, 0.0) is None and gate({"bias": 1.0}, 1.0) is None
