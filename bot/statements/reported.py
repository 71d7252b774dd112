"""Reported speech from every speech cue: a content span per cue, kept when a learned cue model
says the cue really attributes it.

The rules in `extract.py` are strict about which cues open reported speech (they were written to
be precise on wire copy). Real news reports speech in more shapes, so here each cue outside a
quotation proposes the span its shape suggests: "X said (that) ...", "X told reporters ...",
"according to X, ...", "..., X said.", "X urged Y to ...", "X said: ...", and for a verb's object
"X criticized the plan", "... the cost of the plan in ...", "X declined to ...". Each proposal is
described by features (the cue word, the shape, the subject before it, the span's length, whether
the rules found it too) and a logistic model learned from PolNeAR train keeps or drops it.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.statements import rules as ex
from bot.statements.lexicon import DIRECTIVE, QUOTE_ONLY
from bot.statements.model import Statement
from bot.statements.names import looks_lowercase_elsewhere
from bot.statements.trie import trie_pattern

if TYPE_CHECKING:
    from bot.statements.rules import _Cue, _Doc
    from bot.statements.speakers import Mention


@dataclass
class Proposal:
    """A reported-speech span proposed at a cue, with the features the cue model scores."""

    start: int
    end: int
    cue_start: int
    cue_end: int
    cue: str
    feats: list[str]


_THAT_AFTER = re.compile(r"\s*,?\s*((?:[^\s,.;:“”\"]+,?\s+){0,8}?)that\s+")
_TO_AFTER = re.compile(r"\s+((?:[^\s,.;:“”\"]+\s+){1,8}?)to\s+\w")
_SUBJ_GAP = re.compile(r"\s*(?:,[^,.;:“”\"]{1,80},)?\s*(?:(?:also|then|later|has|have|had|once|again|previously|"
                       r"recently|publicly|repeatedly|would|will|did|does|do|not|\w+ly)\s+){0,2}$")
_PASSIVE = frozenset({"was", "were", "is", "are", "be", "been", "being"})
_PREV = re.compile(r"([A-Za-z’']+)[\s,]*$")
_NEXT = re.compile(r"[\s,]*([A-Za-z’']+|[:“\"])")
_PRONOUNS = frozenset({"he", "she", "they", "it", "we", "i", "you"})


def _bucket(n: int) -> str:
    return "0" if n <= 0 else "1" if n <= 3 else "4" if n <= 8 else "9" if n <= 20 else "21" if n <= 40 else "41"


@lru_cache(maxsize=4)
def _vocab_re(vocab: tuple[str, ...]) -> re.Pattern[str] | None:
    """Stance and speech verbs learned from the corpus that the lexicon's cues do not cover, as
    one prefix tree (a flat alternation of hundreds of words is tried branch by branch at every
    position of the article)."""
    if not vocab:
        return None
    return re.compile(r"(?<![\w\-’'])(?=\w)(?:" + trie_pattern(vocab, flex=False) + r")(?![\w\-])")


def learned_cues(doc: _Doc, vocab: tuple[str, ...]) -> list[_Cue]:
    """Occurrences of the learned cue words outside quotations and apart from the lexicon's cues."""

    rx = _vocab_re(vocab)
    if rx is None:
        return []
    out: list[ex._Cue] = []
    cues, starts = doc.cues, doc.cue_starts
    for m in rx.finditer(doc.text):
        s, e = m.start(), m.end()
        i = bisect_left(starts, e) - 1  # the lexicon's cues do not overlap: only the last one before e can
        if (i >= 0 and cues[i].end > s) or ex._in_quote(doc, s):
            continue
        out.append(ex._Cue(s, e, m.group(0).lower()))
    return out


def proposals(doc: _Doc, rule_spans: set[tuple[int, int]], vocab: tuple[str, ...] = ()) -> list[Proposal]:
    """Proposals at each cue whose shape gives a content span (cues inside quotations are ignored):
    the span its shape suggests and, for a verb with an object, the object's noun phrase alone."""

    out: list[Proposal] = []
    text = doc.text
    if not doc.sentences:
        return out
    n_lexicon = len(doc.cues)
    for k, cue in enumerate(list(doc.cues) + learned_cues(doc, vocab)):
        learned = k >= n_lexicon
        si = ex._sentence(doc, cue.start)
        s_start, s_end = doc.sentences[si]
        spans = []
        span = _span(doc, cue, s_start, s_end)
        if span is not None:
            spans.append(span)
        np = _object_np(text, cue, s_end)
        if np is not None:
            spans.append(np)
        spans.extend(_object_clause(text, cue, s_end, np))
        ctx: _CueContext | None = None
        for start, end, form in spans:
            while start < end and (text[start].isspace() or text[start] in ",;:—–-"):
                start += 1
            while end > start and (text[end - 1].isspace() or text[end - 1] in ".,;:—–-"):
                end -= 1
            n = len(text[start:end].split())
            if n < _MIN_WORDS.get(form, 3) or _mostly_quoted(doc, start, end):
                continue  # a quotation is a direct statement already
            feats = _head_feats(cue, form, n)
            if learned:
                feats.append("learned")
                feats.append(f"learned|form={form}")
            if ctx is None:
                ctx = _cue_context(doc, cue, s_start, s_end)
            if (start, end) in rule_spans:
                feats.append("rule_span")
            feats.extend(_feats(doc, ctx, start, end, form))
            if "nosubj" in feats and (form in _OBJECT_FORMS or (learned and form not in _SPEAKER_AFTER)):
                continue  # nobody stands before the verb: likely a noun ("talks pledge"), not speech
            if learned and "subj=name" in feats and "subj_nonperson" in " ".join(feats):
                continue  # a corpus-learned verb needs a person before it, not "Parliament talks ..."
            out.append(Proposal(start, end, cue.start, cue.end, cue.word, feats))
    return out


def _mostly_quoted(doc: _Doc, start: int, end: int) -> bool:
    """True when quotation marks open the span or quoted words make up half of it."""
    if doc.text[start : start + 1] in ("“", '"', "‘", "'"):
        return True
    quoted = sum(min(q.end, end) - max(q.start, start) for q in doc.quotes if q.start < end and q.end > start)
    return quoted * 2 >= end - start


_SPEAKER_AFTER = frozenset({"before", "acc_after", "acc_before"})  # shapes whose speaker follows the cue
_NP_STOP = re.compile(r"[,.;:!?()“”\"—–]|\s(?:in|at|on|for|with|from|during|after|before|because|since|as|and|but|or|"
                      r"while|when|which|who|that|to|of|by|over|about|if|than|into|against)\s")


def _object_np(text: str, cue: _Cue, s_end: int) -> tuple[int, int, str] | None:
    """The noun phrase right after a verb ("criticized the death penalty at a rally" -> "the death
    penalty"): the whole content of many stance attributions."""
    rest = text[cue.end : s_end]
    if not rest[:1].isspace():
        return None
    first = rest.split(None, 1)[0].lower() if rest.strip() else ""
    if not first or first in ("that", "to", "it", "him", "her", "them", "me", "us", "you", "in", "on", "at", "for", "of"):
        return None
    m = _NP_STOP.search(rest, 1)
    end = cue.end + (m.start() if m else len(rest))
    return cue.end, end, "np"


_MIN_WORDS = {"np": 1, "np_pp": 2, "inf": 2}  # fewest words a shape's content may have
_OBJECT_FORMS = frozenset({"np", "np_pp", "inf"})  # shapes whose content is the verb's object
_CLAUSE_STOP = re.compile(r"[,.;:!?()“”\"—–]|\s(?:because|while|when|whereas|if|but|which|who|although|though|saying|"
                          r"and\s+(?:he|she|they|it|we|I|said|says|added))\s")
_INFINITIVE = re.compile(r"\s+(?:(?:not|also|only|never|again)\s+)?to\s+[a-z]")


def _object_clause(text: str, cue: _Cue, s_end: int, np: tuple[int, int, str] | None) -> list[tuple[int, int, str]]:
    """Two more object shapes the noun phrase alone misses: the object with its prepositional
    phrases, up to the clause's end ("stressed the influence of big money in politics, ..."), and
    an infinitive ("declined to name a running mate"): contents of stance attributions too."""
    out: list[tuple[int, int, str]] = []
    m = _INFINITIVE.match(text, cue.end, s_end)
    if m is not None:
        start = m.end() - len("to ") - 1
        stop = _CLAUSE_STOP.search(text, start, s_end)
        out.append((start, stop.start() if stop else s_end, "inf"))
        return out
    if np is None:
        return out
    stop = _CLAUSE_STOP.search(text, np[0] + 1, s_end)
    end = stop.start() if stop else s_end
    if end > np[1] + 1:
        out.append((np[0], end, "np_pp"))
    return out


def _span(doc: _Doc, cue: _Cue, s_start: int, s_end: int) -> tuple[int, int, str] | None:
    """The content span a cue's shape suggests, and the shape's name."""
    text = doc.text
    rest = text[cue.end : s_end]
    if cue.word == "according to":
        comma = text.find(",", cue.end, s_end)
        if comma > 0 and len(text[comma + 1 : s_end].split()) >= 3 and len(text[cue.end : comma].split()) <= 8:
            return comma + 1, s_end, "acc_after"
        before = text.rfind(",", s_start, cue.start)
        if before > s_start:
            return s_start, before, "acc_before"
        return None
    m = _THAT_AFTER.match(rest)
    if m is not None:
        return cue.end + m.end(), s_end, "that" if not m.group(1) else "obj_that"
    if rest.lstrip().startswith(":") and not rest.lstrip()[1:].lstrip().startswith(("“", '"')):
        return cue.end + rest.index(":") + 1, s_end, "colon"
    if cue.word in DIRECTIVE or cue.word.startswith(("ask", "call", "urg")):
        m = _TO_AFTER.match(rest)
        if m is not None:
            return cue.end + m.start(1), s_end, "to"
    words_after = rest.split()
    if len(words_after) >= 4 and rest[:1] in (" ", "\t") and words_after[0][:1] not in "“\"(":
        return cue.end, s_end, "after"
    if len(words_after) <= 7:
        comma = text.rfind(",", s_start, cue.start)
        if comma > s_start and len(text[comma:cue.start].split()) <= 10:
            return s_start, comma, "before"
    return None


def _head_feats(cue: _Cue, form: str, n: int) -> list[str]:
    """The features of a proposal's cue word, shape and length."""
    w = cue.word
    head = w.split(" ")[0]
    return ["bias", f"w={w}", f"form={form}", f"w={head}|form={form}", f"len{_bucket(n)}", f"form={form}|len{_bucket(n)}"]


@dataclass
class _CueContext:
    """What a cue's proposals share: the features of the words around the cue and of its subject."""

    feats: list[str]
    subj: str | None  # the subject's kind, or None when nobody stands before the verb
    pos: str  # where the cue stands in its sentence


def _cue_context(doc: _Doc, cue: _Cue, s_start: int, s_end: int) -> _CueContext:
    """Features of a cue's surroundings, computed once for all the spans it proposes."""
    text = doc.text
    head = cue.word.split(" ")[0]
    feats: list[str] = []
    pm = _PREV.search(text, max(0, cue.start - 25), cue.start)
    prev = pm.group(1).lower() if pm else ""
    nm = _NEXT.match(text, cue.end)
    nxt = nm.group(1).lower() if nm else ""
    feats.append(f"prev={prev if prev in _PASSIVE or prev in _PRONOUNS or prev in ('to', 'not', 'has', 'have', 'had', 'also', 'who', 'which', 'and') else 'x'}")
    feats.append(f"next={nxt if nxt in ('that', 'the', 'a', 'he', 'she', 'it', 'they', 'to', 'reporters', ':', '“', 'in', 'on', 'of', 'about', 'for', 'him', 'her', 'them', 'it', 'by', 'with') else 'x'}")
    feats.append(f"w={head}|next={nxt if nxt in ('that', 'to', 'the', 'for', 'on', 'of', 'about', 'by', 'him', 'her', 'them', 'it') else 'x'}")
    feats.append(f"pv={prev}")  # the words around the cue, as written: the weights keep the telling ones
    feats.append(f"nx={nxt}")
    feats.append(f"w={head}|nx={nxt}")
    if prev in _PASSIVE:
        feats.append(f"passive|w={head}")
    if prev and prev[:1].isupper():
        feats.append("prev_cap")
    subj = None
    for m in reversed(ex._mentions_between(doc, s_start, cue.start)):
        if _SUBJ_GAP.match(text, m.end, cue.start) and not _common_word(text, m, s_start):
            subj = m
        break
    if subj is not None:
        feats.append(f"subj={subj.kind}")
        feats.append(f"subj={subj.kind}|w={head}")
        if not subj.person:
            feats.append(f"subj_nonperson|w={head}")
        # the subject's last word as written ("officials", "spokesman", "Obama"): who tends to be a source
        sw = text[subj.start : subj.end].split()
        feats.append(f"sw={sw[-1].lower() if sw else ''}")
    else:
        feats.append("nosubj")
    pos = "start" if not text[s_start : cue.start].strip() else "end" if len(text[cue.end : s_end].split()) <= 3 else "mid"
    feats.append(f"pos={pos}")
    feats.append(f"w={head}|pos={pos}")
    if cue.word in QUOTE_ONLY:
        feats.append("quote_only")
    return _CueContext(feats, subj.kind if subj is not None else None, pos)


def _feats(doc: _Doc, ctx: _CueContext, start: int, end: int, form: str) -> list[str]:
    """Features of one proposed span, beyond its cue's shared ones (`_cue_context`) and its
    cue word, shape and length (`_head_feats`): how the content opens, how much of it is quoted."""
    text = doc.text
    feats = list(ctx.feats)
    feats.append(f"subj={ctx.subj}|form={form}" if ctx.subj is not None else f"nosubj|form={form}")
    feats.append(f"form={form}|pos={ctx.pos}")
    quoted = sum(q.end - q.start for q in doc.quotes if q.start >= start and q.end <= end)
    frac = quoted / max(1, end - start)
    feats.append("q0" if quoted == 0 else "q_some" if frac < 0.5 else "q_most")
    words = text[start:end].split()
    first = words[0].lower().strip("“\"") if words else ""
    feats.append(f"first={first}")  # how the content opens ("the", "he", "it", "what"): clause or noun phrase
    if first in _PRONOUNS or first in ("the", "a", "an", "there", "this", "his", "her", "their"):
        feats.append("opens_np")
    if form in ("after", "before") and ex._finite(words[1:9]):
        feats.append("finite")
    return feats


def _common_word(text: str, m: Mention, s_start: int) -> bool:
    """A one-word "name" opening its sentence that the article also writes in lower case
    ("Parliament talks ...", "Unfortunately"): a capitalised common word, not a speaker."""
    name = m.name or ""
    return m.kind == "name" and " " not in name and not text[s_start : m.start].strip() and looks_lowercase_elsewhere(text, name)


def cue_probability(p: Proposal, weights: dict[str, float]) -> float:
    """P(the proposal is an attribution), logistic in the summed feature weights."""
    z = sum(weights.get(f, 0.0) for f in p.feats)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def keep(
    doc: _Doc, props: list[Proposal], weights: dict[str, float], threshold: float, taken: list[tuple[int, int]]
) -> list[tuple[Proposal, float]]:
    """Proposals the model keeps, best first among overlapping ones and apart from the spans
    already `taken` by the rules (one statement per span)."""
    scored = sorted(((p, cue_probability(p, weights)) for p in props), key=lambda t: -t[1])
    kept: list[tuple[Proposal, float]] = []
    spans = list(taken)
    for p, prob in scored:
        if prob < threshold:
            break
        if any(min(p.end, e) - max(p.start, s) > 0.5 * min(p.end - p.start, e - s) for s, e in spans):
            continue
        kept.append((p, prob))
        spans.append((p.start, p.end))
    kept.sort(key=lambda t: t[0].start)
    return kept


def as_statement(doc: _Doc, p: Proposal) -> Statement:
    """The statement a kept proposal makes, its speaker left to the ranker."""
    text = doc.text
    doc.reported_cues[(p.start, p.end)] = (p.cue_start, p.cue_end)
    cue_text = "according to" if p.cue == "according to" else " ".join(text[p.cue_start : p.cue_end].split())
    return Statement(None, "reported", text[p.start : p.end], p.start, p.end, cue_text, False)
