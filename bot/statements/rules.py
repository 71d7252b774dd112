"""The rules: quotations and reported speech found by the lexicon and the sentence, each with the
rules' guess at its speaker (`extract.py` then adds what was learned from real news).

Pipeline (all offsets into the input text, no copying of the article):
1. paragraphs (page furniture dropped), quotation spans, sentences (`quotes.py`);
2. mentions of possible speakers: tracked figures by name/title, untracked names, anonymous
   sources, pronouns (`speakers.py`); speech cues from the lexicon (`lexicon.py`);
3. every quotation is attributed from its sentence: an introduction before it ("Rutte said:"),
   an attribution after it (", he said"), or a cue elsewhere in the sentence ("described it as");
   quotations with no attribution inherit from the quotation they continue;
4. reported speech: the content clause after a cue ("stressed that ...", "according to X, ...").
Pronouns are resolved to the subject of the previous sentence, then the last speaker, then the
most recent person of the right gender.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date

from bot.statements.lexicon import (
    AUXILIARIES,
    CHARACTERISING,
    CLAUSE_OPENERS,
    CUE_BODY,
    CUE_FORMS,
    DIRECTIVE,
    GAP_WORDS,
    OBJECT_FIRST,
    PREPOSITIONS,
    QUOTE_ONLY,
    SPEECH_NOUNS,
    THATLESS,
)
from bot.statements.model import Statement
from bot.statements.quotes import Quote, find_quotes, split_paragraphs, split_sentences
from bot.statements.speakers import Gazetteer, Mention
from bot.text.minhash import words

_WS = re.compile(r"\s+")
_PREV_TOKEN = re.compile(r"([A-Za-z’']+)\s+(?:(?:the|a|an)\s+)?$")
_SO_CALLED = re.compile(r"(?:so[\s\-]called|dubbed|known\s+as|titled|entitled|named|hashtag)\s*$", re.I)
_UI_WORD = re.compile(r"(?:press|click|tap|hit|select|choose|type|enter)\s*$", re.I)
_APPOSITIVE = re.compile(r"\s*,[^,“”\"]{1,90},\s*")
_THAT = re.compile(r"\s+that\s+")
_DIRECT_INTRO = re.compile(r"\s*[,:]?\s*[“\"‘']")
_NEXT_CLAUSE = re.compile(r",\s*(?:while|whereas|but|and|as)\s|;\s")
_DIRECTIVE_TO = re.compile(r"\s+((?:[^\s,.;:“”\"]+\s+){1,8}?)to\s+\w")  # "urged X to do"
_TIME_LEAD = frozenset(
    {
        "on", "in", "at", "during", "after", "before", "last", "this", "yesterday", "today", "earlier",
        "later", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "again",
        "repeatedly", "previously", "publicly", "privately", "also", "recently", "separately", "then",
        "once", "late", "while", "when", "via", "through", "over", "to", "for", "as", "from",
    }
)


@dataclass
class _Cue:
    start: int
    end: int
    word: str  # normalised: lower case, single spaces


@dataclass
class _Attribution:
    pos: int
    speaker: str | None
    figure: bool
    gender: str | None


@dataclass
class _Doc:
    """Per-article working state: layout, mentions, cues and resolution memos."""

    text: str
    gazetteer: Gazetteer
    day: date
    paragraphs: list[tuple[int, int]] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    sentences: list[tuple[int, int]] = field(default_factory=list)
    sent_starts: list[int] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    mention_starts: list[int] = field(default_factory=list)
    cues: list[_Cue] = field(default_factory=list)
    cue_starts: list[int] = field(default_factory=list)
    quote_opens: list[int] = field(default_factory=list)
    surnames: dict[str, Mention] = field(default_factory=dict)
    covered: list[tuple[int, int]] = field(default_factory=list)  # figure/anonymous mention spans
    covered_starts: list[int] = field(default_factory=list)
    names_done: list[bool] = field(default_factory=list)  # sentences whose untracked names are in
    pronoun_memo: dict[int, tuple[str | None, bool, str | None]] = field(default_factory=dict)
    last: _Attribution | None = None
    reported_cues: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # span -> its cue
    reported_prob: dict[tuple[int, int], float] = field(default_factory=dict)  # span -> P(cue attributes it)
    learned_spans: set[tuple[int, int]] = field(default_factory=set)  # reported spans only the cue model found


# --------------------------------------------------------------------------- preparation


def _prepare(text: str, gazetteer: Gazetteer, day: date) -> _Doc:
    """Lay out the article and find mentions and cues once; everything after works on offsets."""
    doc = _Doc(text, gazetteer, day)
    doc.paragraphs = split_paragraphs(text)
    for pi, (ps, pe) in enumerate(doc.paragraphs):
        qs = find_quotes(text, ps, pe, pi)
        doc.quotes.extend(qs)
        doc.sentences.extend(split_sentences(text, ps, pe, qs))
    doc.sent_starts = [s for s, _ in doc.sentences]
    doc.quote_opens = [q.open for q in doc.quotes]
    para_starts = [p[0] for p in doc.paragraphs]

    def usable(pos: int) -> bool:
        """Inside a kept paragraph and outside quotations."""
        i = bisect_right(para_starts, pos) - 1
        if i < 0 or pos >= doc.paragraphs[i][1]:
            return False
        return not _in_quote(doc, pos)

    scan = gazetteer.scan(text, day)
    mentions = [m for m in scan.figures + scan.anons + scan.pronouns if usable(m.start)]
    mentions.sort(key=lambda m: (m.start, -m.end))
    doc.mentions = mentions
    doc.mention_starts = [m.start for m in mentions]
    doc.covered = sorted((m.start, m.end) for m in scan.figures + scan.anons)
    doc.covered_starts = [c[0] for c in doc.covered]
    doc.names_done = [False] * len(doc.sentences)
    doc.cues = [_Cue(s, e, w) for s, e, w in scan.cues if usable(s)]
    doc.cue_starts = [c.start for c in doc.cues]
    return doc


def _in_quote(doc: _Doc, pos: int) -> bool:
    """True inside a quotation: names and verbs there belong to the quoted words, not the report."""
    i = bisect_right(doc.quote_opens, pos) - 1
    return i >= 0 and pos < doc.quotes[i].outer_end


def _sentence(doc: _Doc, pos: int) -> int:
    """Index of the sentence holding `pos` (attribution never crosses a sentence unless asked)."""
    return max(0, bisect_right(doc.sent_starts, pos) - 1)


def _mentions_between(doc: _Doc, start: int, end: int) -> list[Mention]:
    """Mentions wholly inside `start:end`, untracked names included (computed on first use)."""
    _ensure_names(doc, start, end)
    lo = bisect_left(doc.mention_starts, start)
    hi = bisect_left(doc.mention_starts, end)
    return [m for m in doc.mentions[lo:hi] if m.end <= end]


def _ensure_names(doc: _Doc, start: int, end: int) -> None:
    """Add the untracked names of the sentences overlapping `start:end` (computed once each)."""
    if not doc.sentences:
        return
    first = _sentence(doc, start)
    last = _sentence(doc, max(start, end - 1))
    for si in range(first, last + 1):
        if doc.names_done[si]:
            continue
        doc.names_done[si] = True
        s0, s1 = doc.sentences[si]
        for m in doc.gazetteer.names(doc.text, s0, s1):
            i = bisect_right(doc.covered_starts, m.end - 1) - 1
            if i >= 0 and doc.covered[i][1] > m.start:
                continue  # part of a tracked figure's name or title, or an anonymous source
            if _in_quote(doc, m.start):
                continue
            k = bisect_left(doc.mention_starts, m.start)
            doc.mention_starts.insert(k, m.start)
            doc.mentions.insert(k, m)
            if m.kind == "name" and m.person and m.name and " " in m.name:
                doc.surnames.setdefault(m.name.split()[-1], m)


def _cues_between(doc: _Doc, start: int, end: int) -> list[_Cue]:
    """Speech cues starting inside `start:end`, outside quotations."""
    lo = bisect_left(doc.cue_starts, start)
    hi = bisect_left(doc.cue_starts, end)
    return doc.cues[lo:hi]


def _colon_cues(doc: _Doc) -> list[_Cue]:
    """"made a surprising announcement: X" — a speech noun before a colon introduces a clause."""
    out: list[_Cue] = []
    text = doc.text
    for s, e in doc.sentences:
        i = text.find(":", s, e)
        if i < 0 or _in_quote(doc, i):
            continue
        m = re.search(r"(\w+)\s*$", text[max(s, i - 30) : i])
        if m and m.group(1).lower() in SPEECH_NOUNS and not re.match(r"\s*[“\"‘']", text[i + 1 : i + 4]):
            out.append(_Cue(i, i + 1, ":"))
    return out


# --------------------------------------------------------------------------- speakers


def _object_position(text: str, m: Mention) -> bool:
    """True when a mention follows a preposition or a verb ("with Zelensky", "rebuked Zelensky")."""
    pm = _PREV_TOKEN.search(text, max(0, m.start - 40), m.start)
    if not pm:
        return False
    w = pm.group(1).lower()
    if w in PREPOSITIONS:
        return True
    return (w.endswith("ing") and w not in ("according",)) or (w.endswith("ed") and len(w) > 4)


def _eligible(doc: _Doc, m: Mention) -> bool:
    """Can this mention be the subject of a speech verb? Not as an object or a possessive."""
    return not m.possessive and not _object_position(doc.text, m)


def _subject_for_cue(doc: _Doc, cue: _Cue, floor: int) -> Mention | None:
    """The speaker of a cue: the mention after "according to", else the subject before the verb."""
    text = doc.text
    if cue.word == "according to":
        after = _mentions_between(doc, cue.end, min(len(text), cue.end + 80))
        stop = re.search(r"[,.;:“\"]", text[cue.end : cue.end + 80])
        limit = cue.end + (stop.start() if stop else 80)
        for m in after:
            if m.start < limit:
                if m.possessive and m.kind != "pronoun":
                    # "according to Ukraine’s air force": the source is the whole phrase, as written
                    phrase = text[m.start : limit].strip()
                    m = Mention(m.start, limit, "name", phrase, person=False)
                return _apposed_name(doc, m, limit) or m
        return None
    cands = [m for m in _mentions_between(doc, floor, cue.start) if _eligible(doc, m)]
    if not cands:
        return None
    if cue.word == ":":
        return cands[-1]
    if cue.word.endswith("ing"):
        # "Rutte wrote, adding that ...": the participle shares the subject of the verb before it;
        # otherwise it is the sentence's subject ("Zakharova described ..., arguing that ...")
        earlier = [c for c in _cues_between(doc, floor, cue.start) if not c.word.endswith("ing")]
        earlier = [c for c in earlier if c.word not in ("according to", ":") and not _in_quote(doc, c.start)]
        if earlier:
            subj = _subject_for_cue(doc, earlier[-1], floor)
            if subj is not None:
                return subj
        return cands[0]
    k = len(cands) - 1
    while k > 0 and _COORDINATION.fullmatch(text, cands[k - 1].end, cands[k].start):
        k -= 1  # "Macron and Scholz reaffirmed": the first of coordinated subjects speaks for both
    nearest = cands[k]
    if nearest.kind == "name" and not nearest.person and " " not in (nearest.name or ""):
        # a lone capitalised word counts only right next to the verb ("Moscow insists")
        gap = text[nearest.end : cue.start].split()
        if len(gap) > 2 and any(m.kind in ("figure", "pronoun") for m in cands):
            return next(m for m in reversed(cands) if m.kind in ("figure", "pronoun"))
    return nearest


def _apposed_name(doc: _Doc, m: Mention, limit: int) -> Mention | None:
    """"Zelensky's spokesman, Serhiy Nykyforov, ...": a person's name in apposition speaks."""
    text = doc.text
    role = m.kind == "anon" or (m.kind == "name" and re.search(r"['’]s\s", m.name or "") is not None)
    if not role or not text.startswith(",", limit):
        return None  # only a role is named by an apposition, not "The Wall Street Journal, Trump, ..."
    for n in _mentions_between(doc, limit + 1, min(len(text), limit + 60)):
        named = n.kind in ("figure", "name") and n.person and not n.possessive
        if named and not text[limit + 1 : n.start].strip() and re.match(r"\s*,", text[n.end : n.end + 3]):
            return n
        break
    return None


def _inverted(doc: _Doc, cue: _Cue) -> Mention | None:
    """"said Rutte", "said the NATO chief", "said a senior official": the mention after the verb."""
    for m in _mentions_between(doc, cue.end, min(len(doc.text), cue.end + 60)):
        gap = doc.text[cue.end : m.start]
        if re.fullmatch(r"\s*(?:(?:the|a|an|one|two|several|senior|top|other|[A-Z][\w.]*)\s+){0,4}", gap):
            return m
        break
    return None


def _compatible(m: Mention, gender: str | None) -> bool:
    return (
        m.kind in ("figure", "name")
        and m.person
        and (gender is None or m.gender is None or m.gender == gender)
    )


def _resolve(doc: _Doc, m: Mention | None) -> tuple[str | None, bool, str | None]:
    """(speaker, is_figure, gender) for a mention, resolving pronouns."""
    if m is None or m.kind == "anon":
        return None, False, None
    if m.kind == "figure":
        return m.name, True, m.gender
    if m.kind == "name":
        name = m.name or ""
        if " " not in name:
            _ensure_names(doc, 0, m.start)  # an earlier full name may not have been looked at yet
        full = doc.surnames.get(name) if " " not in name else None
        if full is not None and full.start < m.start:
            return full.name, False, full.gender
        return name, False, m.gender
    return _resolve_pronoun(doc, m)


def _resolve_pronoun(doc: _Doc, p: Mention) -> tuple[str | None, bool, str | None]:
    """Resolve he/she once per pronoun (chains of "he said" look back through earlier ones)."""
    if p.start in doc.pronoun_memo:
        return doc.pronoun_memo[p.start]
    result = _find_antecedent(doc, p) if p.pronoun != "they" else _coordinated_antecedent(doc, p)
    doc.pronoun_memo[p.start] = result
    return result


def _coordinated_antecedent(doc: _Doc, p: Mention) -> tuple[str | None, bool, str | None]:
    """"Macron and Starmer met ... They said": "they" continues coordinated people who opened the
    previous sentence (the first credited, as for "Macron and Merz said"); any other group is null."""
    si = _sentence(doc, p.start)
    if si == 0 or doc.text[doc.sentences[si][0] : p.start].strip():
        return None, False, None  # only a "they" that opens its sentence
    ps, pe = doc.sentences[si - 1]
    ms = _mentions_between(doc, ps, pe)[:2]
    people = len(ms) == 2 and all(m.kind in ("figure", "name") and m.person and not m.possessive for m in ms)
    if people and not doc.text[ps : ms[0].start].strip() and _COORDINATION.fullmatch(doc.text, ms[0].end, ms[1].start):
        return _resolve(doc, ms[0])
    return None, False, None


def _find_antecedent(doc: _Doc, p: Mention) -> tuple[str | None, bool, str | None]:
    """he/she: a subject earlier in the sentence, else the speaker just attributed (previous or
    this sentence), else the previous sentence's subject, else the last speaker of the last few
    sentences, else the most recent person of that gender. "they" stays unresolved (groups)."""
    g = p.gender
    si = _sentence(doc, p.start)
    s0 = doc.sentences[si][0]
    for m in _mentions_between(doc, s0, p.start):
        if _compatible(m, g) and not _object_position(doc.text, m):
            return _resolve(doc, m)
    last = doc.last
    just_spoke = last is not None and last.speaker and si - 1 <= _sentence(doc, last.pos) <= si
    if last is not None and just_spoke and (g is None or last.gender in (None, g)):
        return last.speaker, last.figure, last.gender  # the speaker just quoted goes on speaking
    if si > 0:
        ps, pe = doc.sentences[si - 1]
        for m in _mentions_between(doc, ps, pe):
            if _object_position(doc.text, m):
                continue
            if m.kind == "pronoun" and m.pronoun == p.pronoun:
                return _resolve_pronoun(doc, m)
            if _compatible(m, g):
                return _resolve(doc, m)
    recent = last is not None and _sentence(doc, last.pos) >= si - 6
    if last is not None and recent and last.speaker and (g is None or last.gender in (None, g)):
        return last.speaker, last.figure, last.gender
    _ensure_names(doc, doc.sentences[max(0, si - 3)][0], p.start)
    lo = bisect_left(doc.mention_starts, p.start)
    for m in reversed(doc.mentions[:lo]):
        if _compatible(m, g):
            return _resolve(doc, m)
    return None, False, None


def _note(doc: _Doc, pos: int, who: tuple[str | None, bool, str | None]) -> None:
    """Remember the last attributed speaker: "he" usually continues the current speaker."""
    if who[0] is not None:
        doc.last = _Attribution(pos, who[0], who[1], who[2])


# --------------------------------------------------------------------------- direct quotes


def _attribute_quote(doc: _Doc, q: Quote) -> tuple[Quote, Statement | None, bool]:
    """Speaker of a quotation: its introduction, its tail, or a cue elsewhere in the sentence.

    Returns the statement and whether it was attributed (unattributed ones may inherit later).
    "so-called “…”" is a scare quote and never attributed.
    """
    text = doc.text
    if _UI_WORD.search(text, max(0, q.open - 12), q.open) and len(text[q.start : q.end].split()) <= 2:
        return q, None, False  # Press "Enter": interface text, not a quotation
    si = _sentence(doc, q.open)
    s_start = doc.sentences[si][0]
    ei = _sentence(doc, max(q.open, q.outer_end - 1))
    s_end = doc.sentences[ei][1]
    before = text[s_start : q.open]
    scare = bool(_SO_CALLED.search(before[-20:]))
    who: tuple[str | None, bool, str | None] = (None, False, None)
    cue_word: str | None = None
    found = False
    if not scare:
        found, who, cue_word = _intro(doc, q, s_start)
        if not found:
            found, who, cue_word = _tail(doc, q, s_end)
        if not found:
            cues = [c for c in _cues_between(doc, s_start, q.open) if not _in_quote(doc, c.start)]
            if cues:
                cue = cues[-1]
                subj = _subject_for_cue(doc, cue, s_start)
                if subj is not None or cue.word in CHARACTERISING or len(_quote_words(doc, q)) > 2:
                    found, who, cue_word = True, _resolve(doc, subj), cue.word
        if not found:
            for cue in _cues_between(doc, q.outer_end, s_end):
                subj = _subject_for_cue(doc, cue, q.outer_end) or _inverted(doc, cue)
                if subj is not None:
                    found, who, cue_word = True, _resolve(doc, subj), cue.word
                    break
        if not found and not before.strip() and len(_quote_words(doc, q)) >= 3:
            # a quotation standing as its own sentence right after reported speech ("Kallas said
            # ... \n\n “Russia is mocking diplomacy.”") goes on with that speaker
            last = doc.last
            if last is not None and last.speaker and _sentence(doc, last.pos) == si - 1:
                found, who, cue_word = True, (last.speaker, last.figure, last.gender), None
    if found:
        _note(doc, q.open, who)
    st = Statement(who[0], "direct", text[q.start : q.end], q.start, q.end, cue_word, who[1])
    return q, st, found


def _quote_words(doc: _Doc, q: Quote) -> list[str]:
    """The words of a quotation (used to tell scare quotes from speech)."""
    return doc.text[q.start : q.end].split()


def _intro(doc: _Doc, q: Quote, s_start: int) -> tuple[bool, tuple[str | None, bool, str | None], str | None]:
    """"Rutte said: “…”", "Trump said, “…”", "Rutte: ‘…’", "with a pointed remark: “…”"."""
    text = doc.text
    before = text[s_start : q.open].rstrip()
    none: tuple[str | None, bool, str | None] = (None, False, None)
    if not before:
        return False, none, None
    cues = _cues_between(doc, max(s_start, q.open - 40), q.open)
    if cues:
        cue = cues[-1]
        between = text[cue.end : q.open]
        if cue.word == "according to":
            if re.fullmatch(r"[^,.;“”\"]{1,60},\s*", between):
                return True, _resolve(doc, _subject_for_cue(doc, cue, s_start)), cue.word
        elif re.fullmatch(r"\s*[,:]?\s*|\s+(?:reporters|journalists|the\s+\w+|\w+)\s*[,:]\s*", between):
            subj = _subject_for_cue(doc, cue, s_start) or _inverted(doc, cue)
            return True, _resolve(doc, subj), cue.word
    if before.endswith(":"):
        colon = s_start + len(before) - 1
        cue = _Cue(colon, colon + 1, ":")
        subj = _subject_for_cue(doc, cue, s_start)
        if subj is not None:
            return True, _resolve(doc, subj), ":"
    return False, none, None


def _tail(doc: _Doc, q: Quote, s_end: int) -> tuple[bool, tuple[str | None, bool, str | None], str | None]:
    """“…,” he said / “…,” said Rutte / “…,” Rutte, the NATO chief, told reporters."""
    text = doc.text
    none: tuple[str | None, bool, str | None] = (None, False, None)
    start = q.outer_end
    end = s_end
    inner_last = text[q.end - 1] if q.end > q.start else ""
    if start >= end and inner_last in "!?" and _sentence(doc, start) + 1 < len(doc.sentences):
        ns, ne = doc.sentences[_sentence(doc, start) + 1]
        if ns - start <= 2:
            end = min(ne, ns + 80)
    m = re.match(r"[\s,—–\-]*", text[start:end])
    j = start + (m.end() if m else 0)
    if j >= end:
        return False, none, None
    cues = _cues_between(doc, j, min(end, j + 120))
    if not cues:
        return False, none, None
    cue = cues[0]
    if cue.start == j:
        if cue.word == "according to":
            return True, _resolve(doc, _subject_for_cue(doc, cue, j)), cue.word
        subj = _inverted(doc, cue)
        if subj is not None:
            return True, _resolve(doc, subj), cue.word
        return False, none, None
    ms = _mentions_between(doc, j, cue.start)
    if not ms or ms[0].start != j:
        return False, none, None
    first = ms[0]
    gap = text[first.end : cue.start]
    am = _APPOSITIVE.match(gap)
    rest = gap[am.end() :] if am else gap
    words = rest.split()
    if len(words) <= 4 and all(w.lower().strip(",") in GAP_WORDS or w.lower().endswith("ly") for w in words):
        return True, _resolve(doc, first), cue.word
    return False, none, None


def _inherit(doc: _Doc, direct: list[tuple[Quote, Statement | None, bool]]) -> list[Statement]:
    """Unattributed quotations take the speaker of the quotation they continue.

    An unclosed quotation (continued in the next paragraph) takes the next one's speaker; a
    quotation that makes up a whole sentence right after an attributed one takes that one's.
    """
    items = [(q, st, ok) for q, st, ok in direct if st is not None]
    resolved: list[tuple[Quote, Statement, bool]] = [(q, st, ok) for q, st, ok in items if st is not None]
    for k in range(len(resolved) - 2, -1, -1):
        q, st, ok = resolved[k]
        nq, nst, nok = resolved[k + 1]
        if not ok and not q.closed and nok and nq.paragraph == q.paragraph + 1:
            resolved[k] = (q, _with_speaker(st, nst), True)
    for k in range(1, len(resolved)):
        q, st, ok = resolved[k]
        pq, pst, pok = resolved[k - 1]
        if ok or not pok or len(st.text.split()) < 3:
            continue
        if q.paragraph - pq.paragraph > 1:
            continue
        si = _sentence(doc, q.open)
        if doc.text[doc.sentences[si][0] : q.open].strip():
            continue  # something before the quotation in its sentence: not a bare continuation
        if not pq.closed or si == _sentence(doc, max(pq.open, pq.outer_end - 1)) + 1:
            resolved[k] = (q, _with_speaker(st, pst), True)
    return [st for _, st, _ in resolved]


def _with_speaker(st: Statement, src: Statement) -> Statement:
    """`st` with the speaker (and cue) of `src`."""
    return Statement(src.speaker, st.kind, st.text, st.start, st.end, src.cue, src.figure)


# --------------------------------------------------------------------------- reported speech


def _reported(doc: _Doc, cue: _Cue) -> Statement | None:
    """Reported speech at a cue: the content clause after it ("said (that) ...", "urged X to ...",
    "according to X, ..."), or before it in wire style ("..., Rutte said on Friday")."""
    text = doc.text
    si = _sentence(doc, cue.start)
    s_start, s_end = doc.sentences[si]
    if cue.word in QUOTE_ONLY:
        return None
    prev = _prev_word(text, cue.start)
    if prev in ("was", "were", "is", "are", "be", "been", "being") and cue.word != "according to":
        return None  # passive: "it was said", "is said to be"
    if prev == "to" and cue.word in ("say", "tell", "state", "note", "add", "claim", "argue"):
        return None
    rest = text[cue.end : s_end]
    if _DIRECT_INTRO.match(rest) and cue.word != ":":
        return None  # introduces a direct quotation
    clause_start: int | None = None
    clause_end = s_end
    subj: Mention | None
    if cue.word == "according to":
        subj = _subject_for_cue(doc, cue, s_start)
        if subj is not None and subj.end > cue.end:
            rest = text[cue.end : s_end]
            skip = subj.end - cue.end  # past an apposed name ("according to X's spokesman, Y, ...")
            stop = re.compile(r"[,.;:]").search(rest, skip)
        else:
            stop = re.search(r"[,.;:]", rest)
        if stop is None:
            return None
        after = cue.end + stop.end()
        if text[cue.end + stop.start()] == "," and after < s_end and len(text[after:s_end].split()) >= 3:
            clause_start = after
        else:
            comma = text.rfind(",", s_start, cue.start)
            if comma <= s_start:
                return None
            clause_start, clause_end = s_start, comma
        return _make_reported(doc, subj, cue, clause_start, clause_end)
    if cue.word == ":":
        clause_start = cue.end
    elif cue.word in DIRECTIVE:
        m = _DIRECTIVE_TO.match(rest)
        if m:
            clause_start = cue.end + m.start(1)
    elif cue.word.startswith(("made", "makes", "making", "has made")):
        m = re.match(r"\s+(?:that\s+)?", rest)
        clause_start = cue.end + (m.end() if m else 0)
    else:
        if _PAREN_AFTER.match(rest) and (st := _parenthetical(doc, cue, s_start, s_end, rest)) is not None:
            return st
        clause_start = _clause_after(doc, cue, rest, s_start)
    if clause_start is None:
        return _parenthetical(doc, cue, s_start, s_end, rest) or _preposed(doc, cue, s_start, s_end, rest)
    if _RELATIVE.search(text, max(s_start, cue.start - 30), cue.start):
        # "Zelensky, who said last week that the war could end, arrived ...": the clause ends
        # where the relative clause does
        comma = text.find(",", clause_start, clause_end)
        if comma > 0 and not _in_quote(doc, comma):
            clause_end = comma
    subj = _subject_for_cue(doc, cue, s_start)  # only now: finding the subject is the costly part
    if subj is None and cue.word.endswith("ing"):
        return None
    if subj is not None and _opens_subordinate(text, s_start, subj.start):
        clause_end = _main_clause_start(text, clause_start, clause_end)
    return _make_reported(doc, subj, cue, clause_start, clause_end)


def _preposed(doc: _Doc, cue: _Cue, s_start: int, s_end: int, rest: str) -> Statement | None:
    """Wire style: "NATO will bolster its flank, Rutte said on Friday." — the clause comes first.

    The cue must end its sentence (but for a time or place phrase), and between the comma that
    closes the clause and the cue there must be only the speaker ("..., Rutte said", "..., said
    the NATO chief", "..., the Kremlin said in a statement").
    """
    if cue.word in QUOTE_ONLY or cue.word in DIRECTIVE or cue.word in ("according to", ":"):
        return None
    tail = rest.strip().rstrip(".!?")
    text = doc.text
    comma = text.rfind(",", s_start, cue.start)
    if comma <= s_start:
        return None
    between = text[comma + 1 : cue.start]
    if len(between.split()) > 9 or _in_quote(doc, comma):
        return None
    ms = _mentions_between(doc, comma + 1, cue.start)
    subj = ms[-1] if ms else None
    if subj is None or len(text[subj.end : cue.start].strip(" ,").split()) > 3:
        # "..., said Witkoff." / "..., said the NATO chief, who ..."
        subj = _inverted(doc, cue) if not between.strip() else None
        if subj is None or len(tail.split(",")[0].split()) > 6:
            return None
    elif tail and not tail.startswith(",") and not _PREPOSED_TAIL.fullmatch(tail):
        return None  # something other than a time or place follows: the verb has its own object
    if text[s_start:comma].rstrip()[-1:] in "”\"’'":
        return None  # a quotation before the comma: already a direct statement
    words = text[s_start:comma].split()
    if not words or words[0].lower() in PREPOSITIONS or not _finite(words[1:12]):
        return None  # "In contrast to Trump, Rutte emphasized ...": a phrase, not a clause
    return _make_reported(doc, subj, cue, s_start, comma)


def _parenthetical(doc: _Doc, cue: _Cue, s_start: int, s_end: int, rest: str) -> Statement | None:
    """Mid-sentence attribution: "The plan, Merz said, would cost billions." — a subject, then the
    speaker and verb between commas, then the predicate. The statement is the whole sentence (its
    offsets must be one span), attribution included."""
    if cue.word in QUOTE_ONLY or cue.word in DIRECTIVE or cue.word in ("according to", ":"):
        return None
    after = _PAREN_AFTER.match(rest)
    if after is None:
        return None
    text = doc.text
    comma = text.rfind(",", s_start, cue.start)
    if comma <= s_start or _in_quote(doc, comma) or len(text[comma + 1 : cue.start].split()) > 5:
        return None
    pre = text[s_start:comma].split()
    if not pre or len(pre) > 12 or pre[0].lower() in PREPOSITIONS or _SUBORDINATORS.match(text, s_start):
        return None
    if pre[-1][-1:] in "”\"’'" or _finite(pre[1:]):
        return None  # a quotation, or a clause of its own ("Talks failed, Rutte said, and ...")
    ms = [m for m in _mentions_between(doc, comma + 1, cue.start) if _eligible(doc, m)]
    if not ms or text[ms[-1].end : cue.start].strip():
        return None
    return _make_reported(doc, ms[-1], cue, s_start, s_end)


# ", would cost billions": after the verb (and perhaps a time phrase), a comma and a predicate
_PAREN_AFTER = re.compile(
    r"(?:\s+(?:reporters|journalists|the\s+[A-Z][\w.]*|[A-Z][\w.]*(?:\s+[A-Z][\w.]*){0,2}))?"
    r"(?:\s+(?:on|in|at|last|this|late|early|to|on\s+\w+)\b[^,;“”\"]{0,40})?,\s+"
    r"(?:would|will|could|can|must|should|may|might|was|were|is|are|has|have|had|needed|needs|did|does)\s"
)


_PREPOSED_TAIL = re.compile(
    r"(?:(?:on|in|at|late|early|last|this|to|during|after|before|from|via|with|while|when)\s+[^,;]{1,60}|"
    r"(?:[Oo]n\s+)?(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|tonight)"
    r"[^,;]{0,40}|reporters|journalists|[Rr]euters|the\s+[A-Z]\w+)"
)


_SUBORDINATORS = re.compile(r"\s*(?:While|Although|Though|Whereas|As|After|When|Since|Because|If|Even though)\s")
_MAIN_CLAUSE = re.compile(
    r",\s+(?:the|a|an|he|she|they|it|this|that|we|[A-Z][\w’']*)(?:\s+[\w’']+){0,3}?\s+"
    r"(?:has|have|had|is|are|was|were|will|would|could|can|did|does|do|may|might|must|should)\b"
)


def _opens_subordinate(text: str, s_start: int, subj_start: int) -> bool:
    """True when the speech sits in a leading subordinate clause ("While the White House said ...,")."""
    m = _SUBORDINATORS.match(text, s_start)
    return m is not None and m.end() <= subj_start


def _main_clause_start(text: str, start: int, end: int) -> int:
    """End of a subordinate clause: the last comma that opens a main clause (subject + verb)."""
    last = end
    for m in _MAIN_CLAUSE.finditer(text, start, end):
        last = m.start()
    return last


def _prev_word(text: str, pos: int) -> str:
    """The word before `pos`, lower case (passive "was said", infinitive "to say")."""
    m = _LAST_WORD.search(text, max(0, pos - 20), pos)
    return m.group(1).lower() if m else ""


_LAST_WORD = re.compile(r"([A-Za-z’']+)\W*$")


def _clause_after(doc: _Doc, cue: _Cue, rest: str, s_start: int) -> int | None:
    """Offset of the content clause after a speech verb, or None when none follows."""
    if (m := _THAT.match(rest)) is not None:
        return cue.end + m.end()
    if cue.word in OBJECT_FIRST or cue.word in THATLESS:
        m = _OBJECT_THAT.match(rest)
        if m:
            lead = m.group(1).split()[0].lower().strip(",")
            if cue.word in OBJECT_FIRST or lead in _TIME_LEAD:
                return cue.end + m.end()
    # "as the BBC points out, the alliance has ..."
    if rest.startswith(",") and _AS_SPEAKER.search(doc.text, s_start, cue.start):
        return cue.end + 1 + (len(rest[1:]) - len(rest[1:].lstrip()))
    if cue.word in THATLESS:
        if rest[:1] not in (" ", "\t") or rest.lstrip()[:1] in "“\"‘'(":
            return None
        words = [(w.start(), w.group(0)) for w in _WORD_SPAN.finditer(rest, 0, 200)]
        # "told reporters the ...", "told the summit the ...": skip a short object first
        skips = (1, 2, 3) if cue.word in OBJECT_FIRST else (0,)
        for skip in skips:
            if skip:
                if len(words) < skip:
                    break
                obj = words[skip - 1][1]
                if obj[-1:] in ",:;" or any(ch in obj for ch in "“”\"‘"):
                    break  # the object ends at punctuation: what follows is not its clause
                if obj.lower() in _DETERMINER_LIKE:
                    continue  # "told the | BBC ...": an object does not end with "the"
            clause = words[skip:]
            if len(clause) < 3:
                break
            first = clause[0][1].lower().strip(",")
            if first[:1] in "“\"‘'(":
                break  # a quoted title or a quotation, not a content clause
            if first in AUXILIARIES or first in PREPOSITIONS or first in _NOT_OPENERS:
                continue
            if first.endswith(("ly", "ing")) and first not in CLAUSE_OPENERS:
                continue
            if _finite([w for _, w in clause[1:8]]):
                return cue.end + clause[0][0]
    return None


_WORD_SPAN = re.compile(r"\S+")
_AS_SPEAKER = re.compile(r"\b[Aa]s\s+[^,]{1,60}$")
_RELATIVE = re.compile(r"\b(?:who|which)\s+(?:\w+\s+){0,2}$")
_COORDINATION = re.compile(r",?\s+and\s+")
# "told ABC’s “This Week” that", "said in an interview on Sunday that": up to 8 words, titles quoted
_OBJECT_THAT = re.compile(r"\s+((?:(?:[^\s,.;:“”\"]+|“[^”]{1,40}”|\"[^\"]{1,40}\"),?\s+){1,8}?)that\s+")
# Words after "said"/"added" that start an object or an interjection, not a content clause.
_NOT_OPENERS = frozenset(
    {"goodbye", "hello", "yes", "no", "so", "thanks", "sorry", "more", "much", "little", "nothing", "that",
     "what", "whether", "if", "how", "why", "when", "where", "who", "which", "otherwise", "grace", "prayers"}
)
_DETERMINER_LIKE = frozenset({"the", "a", "an", "his", "her", "their", "its", "our", "my", "your", "this"})


def _finite(words: list[str]) -> bool:
    """A finite verb soon after the clause opener: the words form a clause, not a noun phrase."""
    prev = ""
    for w in words:
        lw = w.lower().strip(",.;:“”\"’'")
        if lw in AUXILIARIES:
            return True
        after_noun = prev not in _NOT_NOUN and not prev.endswith(("’s", "'s")) and prev != ""
        if after_noun and len(lw) > 3 and lw.endswith(("ed", "es")) and lw not in _PLURAL_NOUNS:
            return True
        if w.endswith((",", ";")) or lw in ("and", "but", "or"):
            return False  # the verb found later belongs to another clause ("wrote a memoir, and Merz is")
        prev = lw
    return False


# Words after which an -ed/-es word is an adjective or noun ("the armed forces"), not a verb; a
# name or noun before it makes it a verb ("the attack on Kyiv showed").
_NOT_NOUN = _DETERMINER_LIKE | frozenset(
    {"these", "those", "some", "any", "every", "each", "no", "several", "many", "more", "most", "other",
     "another", "both", "all", "that", "to", "of", "for", "with", "by", "and", "or", "newly", "so-called"}
)
_PLURAL_NOUNS = frozenset({"states", "times", "forces", "issues", "sources", "measures", "defences", "services"})


def _make_reported(doc: _Doc, subj: Mention | None, cue: _Cue, start: int, end: int) -> Statement | None:
    """Trim a clause to a statement; drop it when too short, a bare quotation, or speakerless."""
    text = doc.text
    while start < end and text[start].isspace():
        start += 1
    for cut in _NEXT_CLAUSE.finditer(text, start, end):
        if _cues_between(doc, cut.end(), min(end, cut.end() + 60)):
            end = cut.start()  # "Rutte said X, while Lavrov said Y": X ends before the next speaker
            break
    while end > start and (text[end - 1].isspace() or text[end - 1] in ".,;:"):
        end -= 1
    if len(text[start:end].split()) < 3:
        return None
    # a clause that is nothing but one quotation is already a direct statement
    i = bisect_right(doc.quote_opens, start) - 1
    if i >= 0 and doc.quotes[i].open == start and doc.quotes[i].outer_end >= end - 1:
        return None
    who = _resolve(doc, subj)
    if subj is None and cue.word != "according to":
        return None
    _note(doc, cue.start, who)
    cue_text = "according to" if cue.word == "according to" else _WS.sub(" ", text[cue.start : cue.end])
    doc.reported_cues[(start, end)] = (cue.start, cue.end)
    return Statement(who[0], "reported", text[start:end], start, end, cue_text, who[1])


# --------------------------------------------------------------------------- pre-filter
#
# A statement comes from a quotation, from a speech cue the lexicon knows, or from a speech noun
# before a colon; `extract_with` has nothing else to start from. `may_hold_statement` looks for
# each of them with the extractor's own conditions, loosened wherever it cannot know what the
# extractor knows (sentence ends, speakers), so it only ever errs towards "maybe". Every check is
# prefix-monotone: a pattern that matches the sentence after a cue also matches the whole rest
# of the text, and `_finite` that is true on a sentence's words is true on a longer list that
# starts with them. tests/test_statements_prefilter.py holds it to that.

_CUE_RE = re.compile(rf"(?<!\w)(?=\w)(?:{CUE_BODY})(?![\w\-])")  # the scanner's cue branch, alone
# first words of the cues that could open reported speech (a cue that only attributes a quotation,
# like "report", never does; every cue starting with such a word is one of them, or it stays in)
_CUE_FIRST_WORDS = frozenset(form.split(" ")[0] for form in CUE_FORMS if " ".join(form.lower().split()) not in QUOTE_ONLY)
_QUOTE_MARKS = ("“", "”", '"', "«", "»", "„", "‘")  # quotes.py: double marks, and ‘ which may open
_OPEN_BEFORE = frozenset(" \t\n([{—–-/:;,“\"")  # quotes._OPEN_CONTEXT
_TRAILING_WORD = re.compile(r"(\w+)\s*$")
_PASSIVE = ("was", "were", "is", "are", "be", "been", "being")
_INFINITIVE = ("say", "tell", "state", "note", "add", "claim", "argue")


def may_hold_statement(text: str) -> bool:
    """False only when `extract_with` cannot find a statement in `text` (cheap: str scans first)."""
    if any(mark in text for mark in _QUOTE_MARKS) or _straight_single_may_open(text):
        return True
    if ":" in text and _colon_may_introduce(text):
        return True
    comma, has_that = "," in text, "that" in text  # a that-clause needs the word
    # A cue starts where a word starts, and that whole word is its first word (all cue words are
    # word characters, followed by a space or the end of the cue): only those words are tried, at
    # each place they occur (not finditer: the scanner may find a cue inside a longer match).
    for first in _CUE_FIRST_WORDS.intersection(words(text)):
        i = text.find(first)
        while i >= 0:
            m = _CUE_RE.match(text, i)
            word = " ".join(m.group(0).lower().split()) if m is not None else ""
            if m is not None and _cue_may_report(text, i, m.end(), word, comma, has_that):
                return True
            i = text.find(first, i + 1)
    return False


def _straight_single_may_open(text: str) -> bool:
    """A straight ' that could open a quotation: after a space, bracket or dash, or at a line's
    start (any whitespace: paragraphs start after stripped whitespace), before a letter."""
    i = text.find("'")
    while i >= 0:
        before = text[i - 1] if i else " "
        if (before in _OPEN_BEFORE or before.isspace()) and text[i + 1 : i + 2].isalpha():
            return True
        i = text.find("'", i + 1)
    return False


def _colon_may_introduce(text: str) -> bool:
    """`_colon_cues`: a speech noun ends the 30 characters before a colon (its window may start
    inside the word, so any ending of the word counts)."""
    i = text.find(":")
    while i >= 0:
        m = _TRAILING_WORD.search(text[max(0, i - 30) : i])
        if m:
            word = m.group(1)
            if any(word[k:].lower() in SPEECH_NOUNS for k in range(len(word))):
                return True
        i = text.find(":", i + 1)
    return False


def _cue_may_report(text: str, start: int, end: int, word: str, comma: bool, has_that: bool) -> bool:
    """Could `_reported` make a statement of this cue (ignoring its speaker and sentence end)?

    Cheapest tests first; the passive and infinitive exclusions only narrow, so they come last.
    """
    if word in QUOTE_ONLY:
        return False
    if word == "according to":
        return True
    if word.startswith(("made", "makes", "making", "has made")):
        return _not_passive(text, start, word)
    if word in DIRECTIVE:
        return _DIRECTIVE_TO.match(text, end) is not None and _not_passive(text, start, word)
    if (comma and _comma_may_frame(text, start, end)) or (has_that and _THAT.match(text, end)):
        return _not_passive(text, start, word)
    if word not in OBJECT_FIRST and word not in THATLESS:
        return False
    if has_that and _OBJECT_THAT.match(text, end):
        return _not_passive(text, start, word)  # "told ABC's “This Week” that", "said on Sunday that"
    if word in OBJECT_FIRST:
        # "told reporters the ...": an object, then a clause (not judged here)
        return word in THATLESS and _not_passive(text, start, word)
    # `_clause_after`'s that-less clause ("said the alliance would ..."), over the rest of the text
    rest = text[end : end + 200]
    if rest[:1] not in (" ", "\t") or (rest.lstrip() or text[end:].lstrip())[:1] in "“\"‘'(":
        return False
    clause = rest.split(None, 8)[:8]  # the words `_WORD_SPAN` finds, as far as they are looked at
    if len(clause) < 3:
        return False
    first = clause[0].lower().strip(",")
    if first[:1] in "“\"‘'(" or first in AUXILIARIES or first in PREPOSITIONS or first in _NOT_OPENERS:
        return False
    if first.endswith(("ly", "ing")) and first not in CLAUSE_OPENERS:
        return False
    return _finite(clause[1:8]) and _not_passive(text, start, word)


def _comma_may_frame(text: str, start: int, end: int) -> bool:
    """The paths of `_reported` that need a comma: "as X said, ..." (a comma right after the cue),
    and wire style or a parenthetical ("..., Rutte said", "The plan, Merz said, would"), which
    take the last comma before the cue in its sentence and allow at most 9 words after it."""
    if text.startswith(",", end):
        return True
    lo = max(0, start - 1000)  # bounded, or a long text with many cues would cost n² here
    c = text.rfind(",", lo, start)
    if c >= 0:
        return len(text[c + 1 : start].split()) <= 9
    # no comma in the last 1,000 characters: an earlier one has at least their words after it
    return lo > 0 and len(text[lo:start].split()) <= 9


def _not_passive(text: str, start: int, word: str) -> bool:
    """`_reported` drops "it was said" and "to say"."""
    prev = _prev_word(text, start)
    return prev not in _PASSIVE and not (prev == "to" and word in _INFINITIVE)
