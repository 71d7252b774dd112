"""Who is speaking: the gazetteer of tracked figures, untracked names, anonymous sources, pronouns.

The gazetteer compiles every name, alias and dated title of the tracked figures into two regexes
once (names are case-sensitive so "trump card" is not Trump; titles are case-insensitive so "Nato
chief" and "NATO chief" agree). `Mention`s found in a text are the raw material from which the
extractor picks the speaker of each statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from bot.figures import Figure, Title
from bot.statements.lexicon import ANON_RE, CAP_STOP, NATIONALITIES, ORG_WORDS, ROLE_WORDS


@dataclass
class Mention:
    """A reference to a possible speaker at `start:end`.

    kind: "figure" (tracked), "name" (untracked, as written), "anon" (official/sources),
    "pronoun" (he/she/they). `person` tells whether the mention can be the antecedent of he/she.
    """

    start: int
    end: int
    kind: str
    name: str | None
    gender: str | None = None
    possessive: bool = False
    person: bool = True
    pronoun: str | None = None


def _title_key(title: str) -> str:
    """Normalise a title for lookup: case, apostrophes, hyphens and dots do not matter."""
    t = title.casefold().replace("’", "'").replace("-", " ").replace(".", "")
    return re.sub(r"\s+", " ", t).strip()


def _flex(phrase: str) -> str:
    """Regex for a phrase that tolerates curly/straight apostrophes, hyphen/space and line breaks."""
    out: list[str] = []
    for ch in phrase:
        if ch in " -":
            out.append(r"[\s\-]+")
        elif ch in "'’":
            out.append("['’]")
        elif ch == ".":
            out.append(r"\.?")
        else:
            out.append(re.escape(ch))
    return "".join(out)


_POSSESSIVE = re.compile(r"['’]s?(?!\w)")
# A capitalised word: "Rutte", "O'Brien", "Al-Sisi", "J.D.", "U.S.", "Zelenskyy".
_CAP = r"(?:(?:Mr|Mrs|Ms|Dr|St|Gen|Sen|Rep|Gov|Lt|Col|Sgt|Prof)\.|[A-Z]\.(?:[A-Z]\.)*|[A-ZÀ-Ý][\w]*(?:['’\-][A-Z][\w]*)?)"
_PARTICLE = r"(?:von|van|der|den|de|da|del|di|du|la|le|al|bin|ibn|el|ter)"
CAPS_RE: re.Pattern[str] = re.compile(rf"(?<![\w\-’'])({_CAP}(?:[ \t]+(?:{_PARTICLE}[ \t]+)*{_CAP})*)")
PRONOUN_RE: re.Pattern[str] = re.compile(r"(?<![\w\-])(he|she|they|He|She|They)(?![\w\-’'])")
_HONORIFIC_GENDER = {
    "mr": "m", "mr.": "m", "sir": "m", "lord": "m", "king": "m", "prince": "m", "spokesman": "m",
    "congressman": "m", "chairman": "m", "mrs": "f", "mrs.": "f", "ms": "f", "ms.": "f", "dame": "f",
    "lady": "f", "queen": "f", "princess": "f", "spokeswoman": "f", "congresswoman": "f",
    "chairwoman": "f",
}
_ATTRIBUTIVE_NEXT = frozenset(
    {
        "administration", "government", "campaign", "team", "officials", "aides", "allies", "camp",
        "cabinet", "office", "family", "era", "tariffs", "doctrine", "plan", "policy", "policies",
        "presidency", "regime", "loyalists", "supporters", "voters", "white", "card", "tower", "org",
        "organization", "foundation", "ally", "aide", "spokesman", "spokeswoman", "spokesperson",
    }
)


class Gazetteer:
    """Tracked figures compiled for fast lookup; build once per figure list with `Gazetteer.build`."""

    def __init__(self, figures: Sequence[Figure]) -> None:
        self.figures: tuple[Figure, ...] = tuple(figures)
        self._by_name: dict[str, Figure] = {}
        for fig in self.figures:
            for written in fig.names:
                self._by_name.setdefault(re.sub(r"\s+", " ", written), fig)
        names = sorted(self._by_name, key=len, reverse=True)
        self._name_re: re.Pattern[str] | None = (
            re.compile(r"(?<![\w\-])(?:" + "|".join(_flex(n) for n in names) + r")(?![\w\-])")
            if names
            else None
        )
        self._titles: dict[str, list[tuple[Figure, Title]]] = {}
        for fig in self.figures:
            for title in fig.titles:
                self._titles.setdefault(_title_key(title.title), []).append((fig, title))
        keys = sorted(self._titles, key=len, reverse=True)
        self._title_re: re.Pattern[str] | None = (
            re.compile(
                r"(?<![\w\-])(?:" + "|".join(_flex(k) for k in keys) + r")(?![\w\-])", re.IGNORECASE
            )
            if keys
            else None
        )
        self._surnames: dict[str, Figure] = {}
        self._resolve_cache: dict[tuple[str, date, str], Figure | None] = {}

    @classmethod
    def build(cls, figures: Sequence[Figure]) -> Gazetteer:
        """A cached gazetteer for this figure list (extraction runs per article, thousands a minute)."""
        return _build_cached(tuple(figures))

    def lookup(self, written: str) -> Figure | None:
        """The figure a written name means, if it is one of the tracked names or aliases."""
        return self._by_name.get(re.sub(r"\s+", " ", written.strip()))

    def by_title(self, matched: str, day: date, modifier: str = "") -> Figure | None:
        """The figure holding the title on `day`; with modifier "former", the most recent past holder."""
        key = (_title_key(matched), day, modifier)
        if key in self._resolve_cache:
            return self._resolve_cache[key]
        holders = self._titles.get(key[0], [])
        found: Figure | None = None
        if modifier == "former":
            past = [(t.until, f) for f, t in holders if t.until is not None and t.until <= day]
            if past:
                found = max(past, key=lambda p: p[0])[1]
        else:
            current = [f for f, t in holders if t.held_on(day)]
            if len({f.name for f in current}) == 1:
                found = current[0]
        self._resolve_cache[key] = found
        return found

    def figure_mentions(self, text: str, day: date) -> list[Mention]:
        """Mentions of tracked figures by name, alias, title, or title followed by name."""
        out: list[Mention] = []
        taken: list[tuple[int, int]] = []
        if self._name_re is not None:
            for m in self._name_re.finditer(text):
                fig = self.lookup(m.group(0))
                if fig is None:
                    continue
                end = m.end()
                nxt = _next_word(text, end)
                if text.startswith("-", end) or nxt in _ATTRIBUTIVE_NEXT:
                    continue  # "Trump administration", "Trump-Putin summit": not the person speaking
                poss = _POSSESSIVE.match(text, end)
                out.append(
                    Mention(m.start(), end, "figure", fig.name, fig.gender, possessive=poss is not None)
                )
                taken.append((m.start(), end))
        if self._title_re is not None:
            for m in self._title_re.finditer(text):
                s, e = m.start(), m.end()
                # a title directly before a name: the name decides ("US President Joe Biden")
                gap = re.match(r"[ \t]*,?[ \t]*", text[e : e + 3])
                after = e + (gap.end() if gap else 0)
                named = next((mm for mm in out if mm.start == after), None)
                if named is not None:
                    named.start = s
                    continue
                if CAPS_RE.match(text, after) and text[after : after + 1].isupper():
                    word = CAPS_RE.match(text, after)
                    if word and word.group(0).split()[0].casefold() not in CAP_STOP:
                        continue
                if any(a <= s < b for a, b in taken):
                    continue
                prev = _prev_word(text, s)
                if prev in ("a", "an", "one", "another", "any", "every", "no"):
                    out.append(Mention(s, e, "anon", None, person=False))
                    continue
                modifier = "former" if prev in ("former", "ex", "then") or text[max(0, s - 3) : s] == "ex-" else ""
                fig = self.by_title(m.group(0), day, modifier)
                poss = _POSSESSIVE.match(text, e)
                if fig is None:
                    out.append(Mention(s, e, "anon", None, person=True, possessive=poss is not None))
                else:
                    out.append(Mention(s, e, "figure", fig.name, fig.gender, possessive=poss is not None))
        out.sort(key=lambda mm: mm.start)
        return out


@lru_cache(maxsize=32)
def _build_cached(figures: tuple[Figure, ...]) -> Gazetteer:
    return Gazetteer(figures)


_WORD_AFTER = re.compile(r"['’]?s?[ \t]+([A-Za-z]+)")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)[\W_]*$")


def _next_word(text: str, pos: int) -> str:
    m = _WORD_AFTER.match(text, pos)
    return m.group(1).lower() if m else ""


def _prev_word(text: str, pos: int) -> str:
    m = _WORD_BEFORE.search(text, max(0, pos - 24), pos)
    return m.group(1).lower() if m else ""


def untracked_mention(text: str, m: re.Match[str], gazetteer: Gazetteer) -> Mention | None:
    """An untracked speaker from a capitalised run, with leading roles and sentence words removed.

    "Chancellor Olaf Scholz" -> "Olaf Scholz"; "However, Reuters" -> "Reuters"; "The Hague" is kept
    but marked as not a person, so it is never the antecedent of "he".
    """
    words = m.group(1).split()
    offsets: list[int] = []
    pos = m.start(1)
    for w in words:
        pos = text.index(w, pos)
        offsets.append(pos)
        pos += len(w)
    gender: str | None = None
    i = 0
    while i < len(words) - 0:
        low = words[i].casefold().rstrip(",")
        if low in CAP_STOP or low in ROLE_WORDS or low in NATIONALITIES or (i == 0 and low.endswith("ing")):
            gender = _HONORIFIC_GENDER.get(low, gender)
            i += 1
            continue
        break
    if i >= len(words):
        return None
    start = offsets[i]
    end = m.end(1)
    name = text[start:end]
    poss = False
    pm = re.search(r"['’]s?$", name)
    if pm:
        name = name[: pm.start()]
        end = start + len(name)
        poss = True
    if not name or not name[0].isupper():
        return None
    if gender is None:
        gender = _HONORIFIC_GENDER.get(_prev_word(text, start))
    fig = gazetteer.lookup(name)
    if fig is not None:
        return Mention(start, end, "figure", fig.name, fig.gender, possessive=poss)
    toks = name.split()
    person = len(toks) >= 2 and not any(t.casefold().strip(".") in ORG_WORDS for t in toks) and not name.isupper()
    if gender is not None:
        person = True
    return Mention(start, end, "name", name, gender, possessive=poss, person=person)


def anon_mentions(text: str) -> list[Mention]:
    """Anonymous attributions ("a senior official", "sources") as speakerless mentions."""
    out: list[Mention] = []
    for m in ANON_RE.finditer(text):
        # "spokeswoman Maria Zakharova": the name that follows is the speaker, not an anonymous one
        if re.match(r"[ \t]+[A-Z][a-z]", text[m.end() : m.end() + 3]):
            continue
        out.append(Mention(m.start(), m.end(), "anon", None, person=False))
    return out


def pronoun_mentions(text: str) -> list[Mention]:
    """Subject pronouns that may stand for a speaker."""
    out: list[Mention] = []
    for m in PRONOUN_RE.finditer(text):
        p = m.group(1).lower()
        gender = {"he": "m", "she": "f"}.get(p)
        out.append(Mention(m.start(), m.end(), "pronoun", None, gender, person=True, pronoun=p))
    return out
