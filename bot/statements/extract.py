"""The extractor: the rules' statements (`rules.py`), then what was learned from real news.

Weights shipped in `attribution_weights.json`: further reported speech proposed at every cue and
kept by a cue model (`reported.py`), and every statement's speaker re-ranked among its candidates
with a confidence (`attribution.py`). All offsets index the input text.
"""

from __future__ import annotations

from datetime import date

from bot.statements.attribution import Target, candidates, rank
from bot.statements.model import Statement
from bot.statements.quotes import Quote
from bot.statements.reported import Proposal, as_statement, cue_probability, keep, proposals
from bot.statements.rules import (
    _WS,
    _attribute_quote,
    _colon_cues,
    _Cue,
    _Doc,
    _inherit,
    _prepare,
    _reported,
    _resolve,
    _sentence,
    _subject_for_cue,
    may_hold_statement,
)
from bot.statements.speakers import Gazetteer
from bot.statements.weights import Weights, shipped

__all__ = ["attribution_targets", "extract_with", "may_hold_statement", "reported_proposals", "scored_reported"]


def extract_with(text: str, gazetteer: Gazetteer, published: date | None = None) -> list[Statement]:
    """Statements in `text`, speakers resolved against a prebuilt gazetteer; ordered by offset.

    Most articles a feed brings hold no statement; `may_hold_statement` tells them apart for a
    fraction of the cost of laying the article out, and is never wrong about one that holds any.
    """
    if not may_hold_statement(text):
        return []
    return _extract(text, gazetteer, published)


def _extract(text: str, gazetteer: Gazetteer, published: date | None) -> list[Statement]:
    """The full extractor, without the pre-filter (tests compare the two)."""
    weights = shipped()
    doc, found = _rule_statements(text, gazetteer, published, weights)
    return _rank(doc, found, weights)


def attribution_targets(text: str, gazetteer: Gazetteer, published: date | None = None) -> list[Target]:
    """The statements the rules find, each with its candidate speakers (what the ranker scores;
    the training script labels these)."""
    doc, found = _rule_statements(text, gazetteer, published, shipped())
    return candidates(doc, found)


def scored_reported(text: str, gazetteer: Gazetteer, weights: Weights, published: date | None = None) -> list[tuple[Statement, float, bool]]:
    """Every reported statement under `weights` before the confidence floor, with the cue model's
    probability and whether only the cue model found it (training sets the cue threshold and the
    floor from these)."""
    doc, found = _rule_statements(text, gazetteer, published, weights)
    targets = candidates(doc, found)
    out = []
    for t, st in zip(targets, rank(targets, weights), strict=True):
        if st.kind == "reported" and _vouched(doc, st):
            out.append((st, t.prior, (st.start, st.end) in doc.learned_spans))
    return out


def _rule_statements(text: str, gazetteer: Gazetteer, published: date | None, weights: Weights) -> tuple[_Doc, list[Statement]]:
    """Quotations and reported speech found by the rules, with the rules' guess at each speaker."""
    doc = _prepare(text, gazetteer, published or date.today())
    items: list[tuple[int, int, Quote | _Cue]] = [(q.open, 0, q) for q in doc.quotes]
    items.extend((c.start, 1, c) for c in doc.cues)
    items.extend((c.start, 1, c) for c in _colon_cues(doc))
    items.sort(key=lambda t: (t[0], t[1]))
    direct: list[tuple[Quote, Statement | None, bool]] = []  # (quote, statement, attributed)
    reported: list[Statement] = []
    for _, _, item in items:
        if isinstance(item, Quote):
            direct.append(_attribute_quote(doc, item))
        else:
            st = _reported(doc, item)
            if st is not None:
                reported.append(st)
    out = _inherit(doc, direct) + _learned_reported(doc, reported, weights)
    out.sort(key=lambda s: (s.start, s.kind))
    return doc, out


def reported_proposals(
    text: str, gazetteer: Gazetteer, published: date | None = None, vocab: tuple[str, ...] = ()
) -> list[Proposal]:
    """Every reported-speech span proposed at a cue, before the cue model judges them (training)."""
    doc = _prepare(text, gazetteer, published or date.today())
    reported = [st for c in doc.cues if (st := _reported(doc, c)) is not None]
    return _all_proposals(doc, reported, vocab)


def _all_proposals(doc: _Doc, rule_reported: list[Statement], vocab: tuple[str, ...]) -> list[Proposal]:
    """Proposals at every cue, plus the rules' own reported statements where their span differs."""
    spans = {(st.start, st.end) for st in rule_reported}
    props = proposals(doc, spans, vocab)
    have = {(p.start, p.end) for p in props}
    for st in rule_reported:
        if (st.start, st.end) not in have:
            c0, c1 = doc.reported_cues.get((st.start, st.end), (st.start, st.start))
            word = _WS.sub(" ", (st.cue or "").lower())
            props.append(Proposal(st.start, st.end, c0, c1, word, ["bias", "rule_only", f"w={word}"]))
    return props


def _learned_reported(doc: _Doc, rule_reported: list[Statement], weights: Weights) -> list[Statement]:
    """Reported speech kept by the learned cue model (the rules' statements alone without one)."""
    if not weights.cue:
        return rule_reported
    out: list[Statement] = list(rule_reported)
    rule_spans = [(st.start, st.end) for st in rule_reported]
    if not may_hold_statement(doc.text):
        return out  # the learned cues only extend articles the pre-filter lets through
    every = _all_proposals(doc, rule_reported, weights.vocab)
    for p in every:
        if (p.start, p.end) in doc.reported_cues and ("rule_only" in p.feats or "rule_span" in p.feats):
            doc.reported_prob[(p.start, p.end)] = cue_probability(p, weights.cue)  # the rules' span, judged too
    props = [p for p in every if "rule_only" not in p.feats]
    for p, prob in keep(doc, props, weights.cue, weights.cue_threshold, rule_spans):
        st = as_statement(doc, p)
        cue = _Cue(p.cue_start, p.cue_end, p.cue)
        if p.cue != ":":
            si = _sentence(doc, cue.start)
            subj = _subject_for_cue(doc, cue, doc.sentences[si][0]) if cue.word != ":" else None
            who = _resolve(doc, subj)
            st = Statement(who[0], "reported", st.text, st.start, st.end, st.cue, who[1])
        doc.reported_prob[(st.start, st.end)] = prob
        doc.learned_spans.add((st.start, st.end))
        out.append(st)
    return out


def _rank(doc: _Doc, found: list[Statement], weights: Weights) -> list[Statement]:
    """Re-attribute every statement with the learned ranker (`attribution.py`)."""
    ranked = rank(candidates(doc, found), weights)
    floor = weights.reported_floor
    return [st for st in ranked if _vouched(doc, st) and not _below_floor(doc, st, floor)]


def _below_floor(doc: _Doc, st: Statement, floor: float) -> bool:
    """Speech only the learned cues found must clear the confidence floor; the rules' own reported
    speech ("he said that ...") is kept at any confidence, since the floor was set for what the cue
    model adds, and the confidence still decides whether it alerts."""
    learned = (st.start, st.end) in doc.learned_spans
    return learned and st.kind == "reported" and st.confidence is not None and st.confidence < floor


def _vouched(doc: _Doc, st: Statement) -> bool:
    """Speech the learned cues found is kept only with a speaker: the rules vouch for their own
    anonymous-source statements ("Sources said ..."), a corpus-learned cue alone does not."""
    return st.speaker is not None or (st.start, st.end) not in doc.learned_spans
