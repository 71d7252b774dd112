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
from itertools import repeat
from typing import TYPE_CHECKING

from bot.statements import rules as ex
from bot.statements.lexicon import ORG_WORDS, PREPOSITIONS, ROLE_WORDS
from bot.statements.model import Statement
from bot.statements.names import looks_lowercase_elsewhere
from bot.statements.weights import Weights

if TYPE_CHECKING:
    from bot.statements.rules import _Cue, _Doc
    from bot.statements.speakers import Mention


@dataclass
class Candidate:
    """One possible speaker of a statement and the features that describe it."""

    speaker: str | None
    figure: bool
    how: str  # "cue", "inverted", "according to", "colon", "dash", "pronoun", "description", "running", "nearby", "none"
    feats: list[str]


@dataclass
class Target:
    """A statement to attribute: its span, the cue that introduced it (if any) and its candidates."""

    statement: Statement
    cue_start: int
    cue_end: int
    candidates: list[Candidate]
    prior: float = 1.0  # P(the statement is an attribution at all), from the cue model


_CUE_GAP = re.compile(r"\s*(?:\([^()]{1,16}\)\s*)?(?:,[^,.;:“”\"]{1,80},)?\s*(?:(?:also|then|later|has|have|had|once|again|previously|"
                      r"recently|publicly|repeatedly|\w+ly)\s+)?$")
_INV_GAP = re.compile(r"\s*(?:(?:the|a|an|one|two|several|senior|top|former|other|[A-Z][\w.’'-]*)\s+){0,5}$")
_ADJ_AFTER = re.compile(r"[\s,.;:―—–\-”\"’']{0,6}")
_ADJ_BEFORE = re.compile(r"[\s,:―—–\-]{0,4}[“\"‘']?")
# a name set after a quotation by a dash, on its line or the next ("” ― Jane Doe", "”\n\n- Mayor Jane Doe"):
# the signature of an epigraph, a tweet or a list of voices
_DASH_AFTER = re.compile(r"[ \t\u00a0]*[”\"’']?[ \t\u00a0.,]*\n{0,2}[ \t\u00a0]*[―—–\-][ \t\u00a0]*(?:[A-Z][\w.]*[ \t]+){0,3}")
# the same signature seen from the mention: a dash after a closing quotation mark, or opening a line
_DASHED = re.compile(r"(?:[”\"’'][ \t\u00a0.,]*\n{0,2}|\n)[ \t\u00a0]*[―—–\-][ \t\u00a0]*(?:[A-Z][\w.]*[ \t]+){0,3}$")
_APPOSED = re.compile(r", ")
# "according to the ministry", and the name apposed to a role: "according to Zelensky's spokesman, Serhiy Nykyforov"
_ACCORDING = re.compile(r"according\s+to\s+(?:(?:the|a|an)\s+)?(?:[^,.;:“”\"\n]{1,40},\s*)?$", re.I)


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
    counts: dict[str, int] = {}  # how often each surname is written in the article, counted once
    memo: dict[int, _Seen] = {}  # by mention (the doc keeps its mentions alive)
    said: dict[str, int] = {}  # how many statements the rules give each speaker: the article's voices
    for st in statements:
        if st.speaker is not None:
            said[st.speaker] = said.get(st.speaker, 0) + 1
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
        ctx = _context(doc, st, a0, a1, si, ei, pi, kind)
        for m in ex._mentions_between(doc, w0, w1):
            if a0 <= m.start < a1 and st.kind == "direct":
                continue  # inside the quotation itself
            if st.kind == "reported" and st.start <= m.start < st.end and not _near_cue(m, c0, c1):
                continue  # the content's own subject ("allies would ..."), not who reports it
            speaker, figure, _ = ex._resolve(doc, m)
            if speaker is None and m.kind not in ("anon",):
                continue
            seen = memo.get(id(m))
            if seen is None:
                seen = memo[id(m)] = _seen(doc, m, para_starts, counts)
            feats = _mention_feats(doc, m, a0, a1, si, ei, pi, c0, c1, kind, seen)
            if speaker is not None and speaker == rule:
                feats.append("rule")
                feats.append(f"rule|{kind}")
            if speaker is not None and speaker == prev_speaker:
                feats.append("running")
                feats.append(f"running|{feats[0]}")
            _conjoin(feats, ctx, said.get(speaker or "", 0))
            how = _how(feats, m)
            cands.append(Candidate(speaker, figure, how, feats))
        _add_rank_feats(cands)
        present = {c.speaker for c in cands}
        if rule is not None and rule not in present:
            feats = ["virt_rule", f"virt_rule|{kind}", f"virt_rule|cue={st.cue is not None}"]
            feats.extend(f"virt_rule|{c}" for c in ctx)
            cands.append(Candidate(rule, st.figure, "cue", feats))
        if prev_speaker is not None and prev_speaker not in present and prev_speaker != rule:
            feats = ["virt_running", f"virt_running|{kind}"]
            feats.extend(f"virt_running|{c}" for c in ctx)
            cands.append(Candidate(prev_speaker, _was_figure(out), "running", feats))
        nwords = len(st.text.split())
        feats = ["null", f"null|{kind}", f"null|len{_bucket(nwords)}", f"null|rule={rule is not None}", f"null|cue={st.cue is not None}"]
        feats.extend(f"null|{c}" for c in ctx)
        feats.extend(f"null|{a}|{b}" for i, a in enumerate(ctx) for b in ctx[i + 1 :])
        cands.append(Candidate(None, False, "none", feats))
        out.append(Target(st, c0, c1, cands, doc.reported_prob.get((st.start, st.end), 1.0)))
        if rule is not None:
            prev_speaker = rule
    return out


_STRIP = " \t\n“”\"‘’'.,;:!?—–-()[]"
_ROLES = ("subj", "inv", "acc", "own_subj", "own_inv", "colon", "adjL", "adjR", "apposed", "rule", "running", "subj_own", "inv_own", "dashR")
_ATTRS = ("k=name", "k=figure", "k=pronoun", "k=anon", "poss", "nonperson", "org", "prep=x", "prep=of", "prep=to", "prep=by", "prep=with", "paren", "tiny")


def _context(doc: _Doc, st: Statement, a0: int, a1: int, si: int, ei: int, pi: int, kind: str) -> list[str]:
    """What the statement's own setting says about who speaks: a quotation that fills its
    paragraph continues a speaker named before; one after a colon is introduced; a fragment
    inside a sentence with no speech cue is a scare quote. (Not whether it opens the article: the
    corpus opens with the headline, an article here with its lede.)"""
    text = doc.text
    out: list[str] = []
    ps, pe = doc.paragraphs[pi] if doc.paragraphs else (0, len(text))
    before = text[ps : max(ps, a0)].strip(_STRIP)
    after = text[min(a1, pe) : pe].strip(_STRIP)
    if not before and not after:
        out.append("whole")
    elif not before:
        out.append("popen")
    s0 = doc.sentences[si][0] if doc.sentences else 0
    s1 = doc.sentences[ei][1] if doc.sentences else len(text)
    if not text[s0 : max(s0, a0)].strip(_STRIP):
        out.append("sopen")
    lo = bisect_right(doc.cue_starts, s0 - 1)
    if lo < len(doc.cues) and doc.cues[lo].start < s1:
        out.append("scue")
    tail = text[max(0, a0 - 3) : a0 + 1].rstrip(" \t\n“\"‘'")
    if tail.endswith(":"):
        out.append("colon_before")
    words = st.text.rstrip(" ”\"’'")
    if words[-1:] in (".", "?", "!"):
        out.append("endp")
    if st.text.lstrip("“\"‘' ")[:1].isupper():
        out.append("cap")
    return [f"{kind}:{c}" for c in out]


def _conjoin(feats: list[str], ctx: list[str], said: int) -> None:
    """Pairs the weights can tell apart where single features cannot: a role (subject of a cue,
    after "said") by the kind of mention holding it ("Clinton's aide" vs the aide); the
    statement's setting by where the mention stands; how often the rules gave this speaker words."""
    pos = feats[0]
    have = set(feats)
    roles = [r for r in _ROLES if r in have]
    attrs = [a for a in _ATTRS if a in have]
    feats.extend(f"{r}&{a}" for r in roles for a in attrs)
    feats.extend(f"{pos}|{c}" for c in ctx)
    feats.extend(f"{r}|{c}" for r in roles for c in ctx)
    b = _bucket(said)
    feats.append(f"said{b}")
    feats.append(f"said{b}|{pos}")


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
    for f in ("acc", "colon", "subj", "inv", "dashR"):
        if f in feats:
            return {"acc": "according to", "colon": "colon", "subj": "cue", "inv": "inverted", "dashR": "dash"}[f]
    return "nearby"


@dataclass
class _Seen:
    """What one mention's surroundings say, whatever statement it is weighed for (computed once
    per mention: each one is a candidate for several statements nearby)."""

    msi: int
    mpi: int
    subj: _Cue | None  # the speech cue it is the subject of ("Rutte said")
    inv: _Cue | None  # the cue right before it ("said Rutte", "according to Rutte")
    acc: bool  # "according to the ministry's spokesman, NAME"
    apposed: bool
    prev: str
    nxt: str
    prep: bool
    sent_first: bool
    dashed: bool  # set after a quotation by a dash ("” ― Ada Brennan"): it signs that quotation
    static: list[str]


def _seen(doc: _Doc, m: Mention, para_starts: list[int], counts: dict[str, int]) -> _Seen:
    text = doc.text
    msi = ex._sentence(doc, m.start)
    mpi = max(0, bisect_right(para_starts, m.start) - 1)
    lo = bisect_right(doc.cue_starts, m.end - 1)
    subj = None
    for c in doc.cues[lo : lo + 3]:
        if c.start - m.end > 120:
            break
        if _CUE_GAP.match(text, m.end, c.start) and "." not in text[m.end : c.start]:
            subj = c
            break
    inv = None
    hi = bisect_right(doc.cue_starts, m.start) - 1
    if hi >= 0:
        c = doc.cues[hi]
        if c.end <= m.start and m.start - c.end <= 60 and _INV_GAP.match(text, c.end, m.start):
            inv = c
    apposed = bool(_APPOSED.match(text, max(0, m.start - 2), m.start) and text.startswith(",", m.end) and m.kind in ("name", "figure"))
    acc = (inv is None or inv.word != "according to") and _ACCORDING.search(text, max(0, m.start - 72), m.start) is not None
    prev = _prev_word(text, m.start)
    nm = _NEXT_TOKEN.match(text, m.end)
    nxt = nm.group(1).lower() if nm else ""
    static: list[str] = []
    if m.kind == "name" and len((m.name or "").strip(".")) <= 2:
        static.append("tiny")  # a lone initial or state code ("Y." from "(D-N.Y.)"): not a speaker's name
    prep = prev in PREPOSITIONS or prev in ("by", "with", "against", "for")
    if prep:
        static.append(f"prep={prev if prev in ('by', 'of', 'to', 'with') else 'x'}")
    if m.possessive:
        static.append("poss")
    if not m.person:
        static.append("nonperson")
    sent_start = doc.sentences[msi][0]
    lead = text[sent_start : m.start].split()
    sent_first = len(lead) <= 2 and all(w[:1].islower() or w.lower().strip(".") in ROLE_WORDS for w in lead)
    if m.kind == "name":
        name = m.name or ""
        words = name.split()
        n = len(words)
        static.append(f"ntok={min(n, 3)}")
        if any(t.casefold().strip(".") in ORG_WORDS for t in words):
            static.append("org")
        last = words[-1] if words else name
        if n == 1 and last in doc.surnames:
            static.append("surname_known")
        count = counts.get(last, -1)
        if count < 0:
            count = counts[last] = text.count(last) if len(last) > 2 else 0
        static.append(f"freq{_bucket(count)}")
        if name.isupper() and len(name) > 3:
            static.append("allcaps")
        if n == 1 and not lead:
            static.append("initial1")
            if looks_lowercase_elsewhere(text, name):
                static.append("initial1_lower")
        if n == 1 and name.endswith("ly"):
            static.append("ly")
    if text[max(0, m.start - 1) : m.start] == "(":
        static.append("paren")
    dashed = _DASHED.search(text, max(0, m.start - 40), m.start) is not None
    return _Seen(msi, mpi, subj, inv, acc, apposed, prev, nxt, prep, sent_first, dashed, static)


def _mention_feats(
    doc: _Doc, m: Mention, a0: int, a1: int, si: int, ei: int, pi: int,
    c0: int, c1: int, kind: str, seen: _Seen,
) -> list[str]:
    """Features of one mention as the speaker of the statement spanning a0:a1."""

    text = doc.text
    if m.end <= a0:
        side = "L"
        rel = seen.msi - si
        dist = _words_between(text, m.end, a0)
    else:
        side = "R"
        rel = seen.msi - ei
        dist = _words_between(text, a1, m.start)
    rel = max(-2, min(1, rel))
    pos = f"{kind}{side}{rel}{'p' if seen.mpi != pi else ''}"
    feats = [pos, f"{pos}|d{_bucket(dist)}", f"k={m.kind}", f"{pos}|k={m.kind}"]
    subj = seen.subj
    if subj is not None:  # a speech cue right after the mention: its subject
        feats.append("subj")
        feats.append(f"subj|{pos}")
        feats.append(f"subj|w={subj.word.split(' ')[0]}")
        if subj.start == c0:
            feats.append("subj_own")
    inv = seen.inv
    if inv is not None:  # a cue right before it: "said Trump", "according to Trump"
        if inv.word == "according to":
            feats.append("acc")
            feats.append(f"acc|{pos}")
        else:
            feats.append("inv")
            feats.append(f"inv|{pos}")
        if inv.start == c0:
            feats.append("inv_own")
    if c0 >= m.end and c0 - m.end <= 120 and _CUE_GAP.match(text, m.end, c0) and "." not in text[m.end : c0]:
        feats.append("own_subj")  # the subject of this statement's own cue
        feats.append(f"own_subj|{pos}")
    elif c1 >= 0 and c1 <= m.start and m.start - c1 <= 60 and _INV_GAP.match(text, c1, m.start):
        feats.append("own_inv")  # "..., said Rutte": right after this statement's own cue
    if seen.apposed:
        feats.append("apposed")  # "Zelensky's spokesman, Serhiy Nykyforov, ...": the name of the role before
    if seen.acc:
        feats.append("acc")
        feats.append(f"acc|{pos}")
    # the words around the mention as written ("Mr. X of the ...", "X, a spokesman", "“...” X said"): the weights keep the telling ones
    feats.append(f"mp={seen.prev}|{side}")
    feats.append(f"mn={seen.nxt}|{side}")
    feats.extend(seen.static)
    if seen.prep:
        feats.append(f"prep|{pos}")
    if seen.sent_first:
        feats.append("sent_first")
        feats.append(f"sent_first|{pos}")
    if side == "R" and _ADJ_AFTER.fullmatch(text, a1, m.start):
        feats.append("adjR")
    if side == "R" and kind == "d" and _DASH_AFTER.fullmatch(text, a1 - 1, m.start):
        feats.append("dashR")
    elif seen.dashed:
        feats.append("dashed_other")  # the signature of another quotation, not of this one
    if side == "L" and _ADJ_BEFORE.fullmatch(text, m.end, a0 + 1):
        feats.append("adjL")
    if side == "L" and kind == "d":
        between = text[m.end : a0 + 1]
        if "“" in between or '"' in between:
            feats.append("qbetween")
        if between.rstrip().endswith(":") and "." not in between:
            feats.append("colon")
    if subj is not None and rel == 0:
        feats.append(f"subj_same_{side}")
    return feats


_NEXT_TOKEN = re.compile(r"\s*([A-Za-z’']+|[,.;:(“”\"])")
_PREV_WORD = re.compile(r"([A-Za-z’']+)[\s,]*$")


def _prev_word(text: str, pos: int) -> str:
    m = _PREV_WORD.search(text, max(0, pos - 20), pos)
    return m.group(1).lower() if m else ""


def score(cands: list[Candidate], weights: dict[str, float]) -> list[float]:
    """Softmax probabilities of the candidates under linear weights."""
    get = weights.get
    raw = [sum(map(get, c.feats, repeat(0.0))) for c in cands]  # map over two iterables: the lookups run in C
    top = max(raw)
    exp = [math.exp(r - top) for r in raw]
    z = sum(exp)
    return [e / z for e in exp]


_OWN = frozenset({"own_subj", "own_inv", "subj_own", "inv_own", "colon", "adjR", "adjL", "dashR"})


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
        if best is None and st.kind == "direct" and by_speaker[None] < weights.null_bar and len(by_speaker) > 1:
            # "nobody" must be likely, not merely likelier than each name: the named speakers share
            # the rest, and a quotation the gold left unattributed taught the model to doubt names
            best = max((s for s in by_speaker if s is not None), key=lambda s: by_speaker[s])
        how, figure, top = "cue", st.figure, -1.0
        for c, p in zip(t.candidates, probs, strict=True):
            own = not _OWN.isdisjoint(c.feats)  # the mention bound to the cue tells how it was attributed
            if c.speaker == best and p + own > top:
                top, how, figure = p + own, c.how, c.figure
        conf = round(by_speaker.get(best, 0.0) * t.prior, 3)
        if best is None:
            out.append(replace(st, speaker=None, figure=False, confidence=conf, attributed=None))
        else:
            out.append(replace(st, speaker=best, figure=figure, confidence=conf, attributed=how))
    return out
