"""Who said it: candidate speakers for each statement, ranked by weights learned from news.

The rules in `extract.py` find quotations and cues and make one guess at the speaker. Here every
statement gets a set of candidates instead: each person, figure, pronoun or anonymous source
mentioned from two sentences before it to the sentence after it, the rules' own guess and the
speaker of the statement before (a running speaker across quote paragraphs), plus "nobody" (scare
quotes, titles). Each candidate is described by plain string features (where it stands relative
to the statement and to speech cues, what kind of mention it is, whether the rules chose it);
a log-linear model scores them and a softmax over a statement's candidates gives the probability
that each one is the speaker. The speaker's probability is the statement's `confidence`.

The same `candidates` function feeds `tools/train_attribution.py`, so features at training and at
inference are the same code.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot.statements import rules as ex
from bot.statements.lexicon import ORG_WORDS, PREPOSITIONS, ROLE_WORDS
from bot.statements.model import Statement
from bot.statements.names import is_bare_title, is_party_tag, looks_lowercase_elsewhere
from bot.statements.weights import Weights

if TYPE_CHECKING:
    from bot.statements.rules import _Doc
    from bot.statements.speakers import Mention


@dataclass
class Candidate:
    """One possible speaker of a statement and the features that describe it."""

    speaker: str | None
    figure: bool
    how: str  # "cue", "inverted", "according to", "colon", "pronoun", "description", "running", "nearby", "none"
    feats: list[str]


@dataclass
class Target:
    """A statement to attribute: its span, the cue that introduced it (if any) and its candidates."""

    statement: Statement
    cue_start: int
    cue_end: int
    candidates: list[Candidate]
    prior: float = 1.0  # P(the statement is an attribution at all), from the cue model


_CUE_GAP = re.compile(r"\s*(?:,[^,.;:“”\"]{1,80},)?\s*(?:(?:also|then|later|has|have|had|once|again|previously|"
                      r"recently|publicly|repeatedly|\w+ly)\s+)?$")
_INV_GAP = re.compile(r"\s*(?:(?:the|a|an|one|two|several|senior|top|former|other|[A-Z][\w.’'-]*)\s+){0,5}$")
_ADJ_AFTER = re.compile(r"[\s,.;:—–\-”\"’']{0,6}")
_ADJ_BEFORE = re.compile(r"[\s,:—–\-]{0,4}[“\"‘']?")
_APPOSED = re.compile(r", ")
_ACCORDING = re.compile(r"according\s+to\s+(?:(?:the|a|an)\s+)?$", re.I)


def _bucket(n: int) -> str:
    return "0" if n <= 0 else "1" if n <= 2 else "3" if n <= 5 else "6" if n <= 10 else "11" if n <= 20 else "21"


def _words_between(text: str, a: int, b: int) -> int:
    if b <= a:
        return 0
    if b - a > 400:
        return 60
    return len(text[a:b].split())


def candidates(doc: _Doc, statements: list[Statement]) -> list[Target]:
    """Targets with their candidates, in text order (the previous target's speaker is carried)."""

    text = doc.text
    para_starts = [p[0] for p in doc.paragraphs]
    out: list[Target] = []
    prev_speaker: str | None = None
    for st in statements:
        if st.kind == "reported":
            c0, c1 = doc.reported_cues.get((st.start, st.end), (st.start, st.start))
            a0, a1 = min(c0, st.start), max(c1, st.end)
        else:
            c0 = c1 = -1
            a0 = st.start - 1
            a1 = st.end + 1
        si = ex._sentence(doc, max(0, a0))
        ei = ex._sentence(doc, max(a0, a1 - 1))
        pi = max(0, bisect_right(para_starts, max(0, a0)) - 1)
        w0 = doc.sentences[max(0, si - 2)][0]
        if pi > 0:
            w0 = max(w0, doc.paragraphs[pi - 1][0])
        w1 = doc.sentences[min(len(doc.sentences) - 1, ei + 1)][1] if doc.sentences else len(text)
        cands: list[Candidate] = []
        rule = st.speaker
        kind = st.kind[0]
        for m in ex._mentions_between(doc, w0, w1):
            if m.kind == "name" and (is_party_tag(m.name or "") or is_bare_title(m.name or "")):
                continue
            if a0 <= m.start < a1 and st.kind == "direct":
                continue  # inside the quotation itself
            if st.kind == "reported" and st.start <= m.start < st.end and not _near_cue(m, c0, c1):
                continue  # the content's own subject ("allies would ..."), not who reports it
            speaker, figure, _ = ex._resolve(doc, m)
            if speaker is None and m.kind not in ("anon",):
                continue
            feats = _mention_feats(doc, m, a0, a1, si, ei, pi, para_starts, c0, c1, kind)
            if speaker is not None and speaker == rule:
                feats.append("rule")
                feats.append(f"rule|{kind}")
            if speaker is not None and speaker == prev_speaker:
                feats.append("running")
                feats.append(f"running|{feats[0]}")
            how = _how(feats, m)
            cands.append(Candidate(speaker, figure, how, feats))
        _add_rank_feats(cands)
        present = {c.speaker for c in cands}
        if rule is not None and rule not in present:
            cands.append(Candidate(rule, st.figure, "cue", ["virt_rule", f"virt_rule|{kind}", f"virt_rule|cue={st.cue is not None}"]))
        if prev_speaker is not None and prev_speaker not in present and prev_speaker != rule:
            cands.append(Candidate(prev_speaker, _was_figure(out), "running", ["virt_running", f"virt_running|{kind}"]))
        nwords = len(st.text.split())
        cands.append(
            Candidate(None, False, "none", ["null", f"null|{kind}", f"null|len{_bucket(nwords)}",
                                              f"null|rule={rule is not None}", f"null|cue={st.cue is not None}"])
        )
        out.append(Target(st, c0, c1, cands, doc.reported_prob.get((st.start, st.end), 1.0)))
        if rule is not None:
            prev_speaker = rule
    return out


def _near_cue(m: Mention, c0: int, c1: int) -> bool:
    """True for a mention right before the statement's cue ("The plan, Merz said, would ..."):
    the speaker inside a span the rules took whole; one after the cue opens the content."""
    return m.end <= c0 and c0 - m.end <= 60


def _add_rank_feats(cands: list[Candidate]) -> None:
    """How many candidates stand between each one and the statement, on its side: the nearest
    name before a quotation is a strong default, the third one rarely speaks."""
    left = [c for c in cands if c.feats[0][1] == "L"]
    right = [c for c in cands if c.feats[0][1] == "R"]
    for k, c in enumerate(reversed(left)):
        c.feats.append(f"nearL{min(k, 2)}")
        c.feats.append(f"nearL{min(k, 2)}|{c.feats[0]}")
    for k, c in enumerate(right):
        c.feats.append(f"nearR{min(k, 2)}")
        c.feats.append(f"nearR{min(k, 2)}|{c.feats[0]}")


def _was_figure(targets: list[Target]) -> bool:
    return bool(targets) and targets[-1].statement.figure


def _how(feats: list[str], m: Mention) -> str:
    if m.kind == "pronoun":
        return "pronoun"
    if m.kind == "anon":
        return "description"
    for f in ("acc", "colon", "subj", "inv"):
        if f in feats:
            return {"acc": "according to", "colon": "colon", "subj": "cue", "inv": "inverted"}[f]
    return "nearby"


def _mention_feats(
    doc: _Doc, m: Mention, a0: int, a1: int, si: int, ei: int, pi: int,
    para_starts: list[int], c0: int, c1: int, kind: str,
) -> list[str]:
    """Features of one mention as the speaker of the statement spanning a0:a1."""

    text = doc.text
    msi = ex._sentence(doc, m.start)
    mpi = max(0, bisect_right(para_starts, m.start) - 1)
    if m.end <= a0:
        side = "L"
        rel = msi - si
        dist = _words_between(text, m.end, a0)
    else:
        side = "R"
        rel = msi - ei
        dist = _words_between(text, a1, m.start)
    rel = max(-2, min(1, rel))
    pos = f"{kind}{side}{rel}{'p' if mpi != pi else ''}"
    feats = [pos, f"{pos}|d{_bucket(dist)}", f"k={m.kind}", f"{pos}|k={m.kind}"]
    # a speech cue right after the mention: its subject
    lo = bisect_right(doc.cue_starts, m.end - 1)
    subj = False
    for c in doc.cues[lo : lo + 3]:
        if c.start - m.end > 120:
            break
        if _CUE_GAP.match(text, m.end, c.start) and "." not in text[m.end : c.start]:
            subj = True
            feats.append("subj")
            feats.append(f"subj|{pos}")
            feats.append(f"subj|w={c.word.split(' ')[0]}")
            if c.start == c0:
                feats.append("subj_own")
            break
    # a cue right before it: "said Trump", "according to Trump"
    hi = bisect_right(doc.cue_starts, m.start) - 1
    if hi >= 0:
        c = doc.cues[hi]
        if c.end <= m.start and m.start - c.end <= 60 and _INV_GAP.match(text, c.end, m.start):
            if c.word == "according to":
                feats.append("acc")
                feats.append(f"acc|{pos}")
            else:
                feats.append("inv")
                feats.append(f"inv|{pos}")
            if c.start == c0:
                feats.append("inv_own")
    if c0 >= m.end and c0 - m.end <= 120 and _CUE_GAP.match(text, m.end, c0) and "." not in text[m.end : c0]:
        feats.append("own_subj")  # the subject of this statement's own cue
        feats.append(f"own_subj|{pos}")
    elif c1 >= 0 and c1 <= m.start and m.start - c1 <= 60 and _INV_GAP.match(text, c1, m.start):
        feats.append("own_inv")  # "..., said Rutte": right after this statement's own cue
    if _APPOSED.match(text, max(0, m.start - 2), m.start) and text.startswith(",", m.end) and m.kind in ("name", "figure"):
        feats.append("apposed")  # "Zelensky's spokesman, Serhiy Nykyforov, ...": the name of the role before
    if _ACCORDING.search(text, max(0, m.start - 30), m.start) and "acc" not in feats:
        feats.append("acc")
        feats.append(f"acc|{pos}")
    prev = _prev_word(text, m.start)
    # the words around the mention as written ("Mr. X of the ...", "X, a spokesman", "“...” X said"): the weights keep the telling ones
    nm = _NEXT_TOKEN.match(text, m.end)
    nxt = nm.group(1).lower() if nm else ""
    feats.append(f"mp={prev}|{side}")
    feats.append(f"mn={nxt}|{side}")
    if m.kind == "name" and len((m.name or "").strip(".")) <= 2:
        feats.append("tiny")  # a lone initial or state code ("Y." from "(D-N.Y.)"): not a speaker's name
    if prev in PREPOSITIONS or prev in ("by", "with", "against", "for"):
        feats.append(f"prep={prev if prev in ('by', 'of', 'to', 'with') else 'x'}")
        feats.append(f"prep|{pos}")
    if m.possessive:
        feats.append("poss")
    if not m.person:
        feats.append("nonperson")
    sent_start = doc.sentences[msi][0]
    lead = text[sent_start : m.start].split()
    if len(lead) <= 2 and all(w[:1].islower() or w.lower().strip(".") in ROLE_WORDS for w in lead):
        feats.append("sent_first")
        feats.append(f"sent_first|{pos}")
    if side == "R" and _ADJ_AFTER.fullmatch(text, a1, m.start):
        feats.append("adjR")
    if side == "L" and _ADJ_BEFORE.fullmatch(text, m.end, a0 + 1):
        feats.append("adjL")
    if m.kind == "name":
        name = m.name or ""
        n = len(name.split())
        feats.append(f"ntok={min(n, 3)}")
        if any(t.casefold().strip(".") in ORG_WORDS for t in name.split()):
            feats.append("org")
        last = name.split()[-1] if name.split() else name
        if n == 1 and last in doc.surnames:
            feats.append("surname_known")
        count = text.count(last) if len(last) > 2 else 0
        feats.append(f"freq{_bucket(count)}")
        if name.isupper() and len(name) > 3:
            feats.append("allcaps")
        if n == 1 and not text[sent_start : m.start].strip():
            feats.append("initial1")
            if looks_lowercase_elsewhere(text, name):
                feats.append("initial1_lower")
        if n == 1 and name.endswith("ly"):
            feats.append("ly")
    if text[max(0, m.start - 1) : m.start] == "(":
        feats.append("paren")
    if side == "L" and kind == "d":
        between = text[m.end : a0 + 1]
        if "“" in between or '"' in between:
            feats.append("qbetween")
        if between.rstrip().endswith(":") and "." not in between:
            feats.append("colon")
    if subj and side == "L" and rel == 0:
        feats.append("subj_same_L")
    if subj and side == "R" and rel == 0:
        feats.append("subj_same_R")
    return feats


_NEXT_TOKEN = re.compile(r"\s*([A-Za-z’']+|[,.;:(“”\"])")
_PREV_WORD = re.compile(r"([A-Za-z’']+)[\s,]*$")


def _prev_word(text: str, pos: int) -> str:
    m = _PREV_WORD.search(text, max(0, pos - 20), pos)
    return m.group(1).lower() if m else ""


def score(cands: list[Candidate], weights: dict[str, float]) -> list[float]:
    """Softmax probabilities of the candidates under linear weights."""
    get = weights.get
    raw = [sum(get(f, 0.0) for f in c.feats) for c in cands]
    top = max(raw)
    exp = [math.exp(r - top) for r in raw]
    z = sum(exp)
    return [e / z for e in exp]


_OWN = frozenset({"own_subj", "own_inv", "subj_own", "inv_own", "colon", "adjR", "adjL"})


def rank(targets: list[Target], weights: Weights) -> list[Statement]:
    """Each target's statement with its best-scoring speaker and that speaker's total probability."""
    out: list[Statement] = []
    for t in targets:
        st = t.statement
        if not weights.speaker:
            out.append(replace(st, attributed="rule" if st.speaker else None))
            continue
        probs = score(t.candidates, weights.speaker)
        by_speaker: dict[str | None, float] = {}
        for c, p in zip(t.candidates, probs, strict=True):
            by_speaker[c.speaker] = by_speaker.get(c.speaker, 0.0) + p
        best = max(by_speaker, key=lambda s: by_speaker[s])
        rule = st.speaker
        bar = weights.override if st.kind == "direct" else weights.override_reported
        if rule is not None and best != rule and (best is None or by_speaker[best] < bar):
            best = rule  # the rules' own pattern stands unless the model is sure of another speaker
        how, figure, top = "cue", st.figure, -1.0
        for c, p in zip(t.candidates, probs, strict=True):
            own = any(f in _OWN for f in c.feats)  # the mention bound to the cue tells how it was attributed
            if c.speaker == best and p + own > top:
                top, how, figure = p + own, c.how, c.figure
        conf = round(by_speaker.get(best, 0.0) * t.prior, 3)
        if best is None:
            out.append(replace(st, speaker=None, figure=False, confidence=conf, attributed=None))
        else:
            out.append(replace(st, speaker=best, figure=figure, confidence=conf, attributed=how))
    return out
