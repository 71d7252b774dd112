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

from bot.statements.figures import Figure, Title
from bot.statements.lexicon import ANON_BODY, CAP_STOP, CUE_BODY, NATIONALITIES, ORG_WORDS, ROLE_WORDS
from bot.statements.names import is_bare_title, is_party_tag
from bot.statements.trie import trie_pattern


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


_POSSESSIVE = re.compile(r"['’]s?(?!\w)")
# A capitalised word: "Rutte", "O'Brien", "Al-Sisi", "J.D.", "U.S.", "Zelenskyy"; a Korean given
# name keeps its lower-case second syllable ("Ban Ki-moon", "Park Geun-hye") but "Obama-era" and
# "Trump-backed" stop at the hyphen; inside a name an Arabic particle is joined ("Abu Bakr al-Baghdadi").
_HYPHEN_TAIL = r"-(?!(?:era|led|run|like|type|born|made|wide|style|based|backed|linked|allied|free|only)(?![a-z]))[a-z]{1,6}(?![\w\-])"
_CAP = (
    r"(?:(?:Mr|Mrs|Ms|Dr|St|Gen|Sen|Rep|Gov|Lt|Col|Sgt|Prof|Rev|Del|Hon|Amb|Adm|Capt|Maj|Fr|Sens|Reps)\."
    r"|[A-Z]\.(?:[A-Z]\.)*"
    rf"|(?:(?:al|el|ad|ash|as|bin|ibn|ben)-)?[A-ZÀ-Ý][\w]*(?:['’\-][A-Z][\w]*|{_HYPHEN_TAIL})?)"
)
_PARTICLE = r"(?:von|van|der|den|de|da|del|di|du|la|le|al|bin|ibn|el|ter)"
_CAPS_BODY = rf"{_CAP}(?:[ \t]+(?:{_PARTICLE}[ \t]+)*{_CAP})*"
_HONORIFIC_GENDER = {
    "mr": "m", "mr.": "m", "sir": "m", "lord": "m", "king": "m", "prince": "m", "spokesman": "m",
    "congressman": "m", "chairman": "m", "mrs": "f", "mrs.": "f", "ms": "f", "ms.": "f", "dame": "f",
    "lady": "f", "queen": "f", "princess": "f", "spokeswoman": "f", "congresswoman": "f",
    "chairwoman": "f", "councilman": "m", "councilwoman": "f", "assemblyman": "m", "assemblywoman": "f",
    "alderman": "m", "alderwoman": "f",
}
_ATTRIBUTIVE_NEXT = frozenset(
    {
        "administration", "government", "campaign", "team", "officials", "aides", "allies", "camp",
        "cabinet", "office", "family", "era", "tariffs", "doctrine", "plan", "policy", "policies",
        "presidency", "regime", "loyalists", "supporters", "voters", "white", "card", "tower", "org",
        "organization", "foundation", "ally", "aide", "spokesman", "spokeswoman", "spokesperson",
    }
)


def _case_variants(phrase: str) -> set[str]:
    """Spellings of a title as the press prints it: as configured, lower case, Title Case, "Nato"."""
    options: list[set[str]] = []
    for word in phrase.split(" "):
        forms = {word, word.lower(), word[:1].upper() + word[1:].lower(), word[:1].upper() + word[1:]}
        options.append(forms)
    out = {""}
    for forms in options:
        out = {f"{head} {w}".strip() for head in out for w in forms}
    return out


@dataclass
class Scan:
    """Everything one pass over an article finds: speaker mentions and speech cues (start, end, word)."""

    figures: list[Mention]
    anons: list[Mention]
    pronouns: list[Mention]
    cues: list[tuple[int, int, str]]


class Gazetteer:
    """Tracked figures compiled for fast lookup; build once per figure list with `Gazetteer.build`.

    Names, titles, speech cues, anonymous sources, pronouns and capitalised runs are matched by one
    master regex in a single pass over the article (each part a prefix tree), which is what keeps
    extraction several times faster than parsing the feed the article came from.
    """

    def __init__(self, figures: Sequence[Figure]) -> None:
        self.figures: tuple[Figure, ...] = tuple(figures)
        self._by_name: dict[str, Figure] = {}
        for fig in self.figures:
            for written in fig.names:
                self._by_name.setdefault(re.sub(r"\s+", " ", written), fig)
        self._titles: dict[str, list[tuple[Figure, Title]]] = {}
        for fig in self.figures:
            for title in fig.titles:
                self._titles.setdefault(_title_key(title.title), []).append((fig, title))
        titles = {v for f in self.figures for t in f.titles for v in _case_variants(t.title)}
        branches = []
        if self._by_name:
            branches.append(rf"(?P<name>{trie_pattern(self._by_name)})(?![\w\-])")
        if titles:
            branches.append(rf"(?P<title>{trie_pattern(titles)})(?![\w\-])")
        # a title that starts with a name ("Putin's spokesman") is tried where a name is possessive
        self._title_re = re.compile(rf"(?:{trie_pattern(titles)})(?![\w\-])") if titles else None
        branches.append(rf"(?P<cue>{CUE_BODY})(?![\w\-])")
        branches.append(rf"(?P<anon>{ANON_BODY})(?![\w\-])")
        branches.append(r"(?P<pron>[Hh]e|[Ss]he|[Tt]hey)(?![\w\-’'])")
        # (?<!\w)(?=\w) rather than \b: only word starts are tried, about twice as fast in `re`
        self._scan_re = re.compile(r"(?<!\w)(?=\w)(?:" + "|".join(branches) + ")")
        self._name_re = re.compile(rf"(?:{trie_pattern(self._by_name)})(?![\w\-])") if self._by_name else None
        self._resolve_cache: dict[tuple[str, date, str], Figure | None] = {}

    @classmethod
    def build(cls, figures: Sequence[Figure]) -> Gazetteer:
        """A cached gazetteer for this figure list (extraction runs per article, thousands a minute)."""
        return _build_cached(tuple(figures))

    def lookup(self, written: str) -> Figure | None:
        """The figure a written name means, if it is one of the tracked names or aliases."""
        return self._by_name.get(" ".join(written.split()))

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

    def scan(self, text: str, day: date) -> Scan:
        """One pass: figures (by name, title, or title + name), untracked names, anonymous
        sources, pronouns and speech cues, each with offsets."""
        out = Scan([], [], [], [])
        merge_at = -1  # a title directly before a figure's name: the name's mention starts there
        merge_from = -1
        pos = 0
        search = self._scan_re.search
        while (m := search(text, pos)) is not None:
            s, e = m.start(), m.end()
            kind = m.lastgroup
            matched = m.group(0)
            if kind == "name" and text.startswith(_APOSTROPHES, e) and self._title_re is not None:
                tm = self._title_re.match(text, s)
                if tm is not None and tm.end() > e:
                    kind, e, matched = "title", tm.end(), tm.group(0)
            pos = e
            before = text[s - 1] if s else " "
            if before in "-’'" and kind != "pron":
                continue  # "pro-Trump", "al-Assad" inner parts, "o’clock"
            if kind == "cue":
                out.cues.append((s, e, " ".join(matched.lower().split())))
            elif kind == "pron":
                p = matched.lower()
                out.pronouns.append(Mention(s, e, "pronoun", None, _PRONOUN_GENDER.get(p), pronoun=p))
            elif kind == "anon":
                if _NAME_NEXT.match(text, e):  # "spokeswoman Maria Zakharova": the name speaks
                    continue
                owner = _SPOKES_OWNER.search(text, max(0, s - 60), s) if text.startswith("spokes", s) else None
                if owner is not None:
                    # "Starmer's spokesman": the spokesman speaks, named as written
                    o = owner.start(1)
                    gender = "m" if text.startswith("spokesman", s) else "f" if text.startswith("spokeswoman", s) else None
                    out.anons.append(Mention(o, e, "name", text[o:e], gender))
                    continue
                out.anons.append(Mention(s, e, "anon", None, person=False))
            elif kind == "name":
                fig = self.lookup(matched)
                if fig is None or text.startswith("-", e) or _next_word(text, e) in _ATTRIBUTIVE_NEXT:
                    continue  # "Trump administration", "Trump-Putin summit": not the person
                start = merge_from if s == merge_at else s
                poss = bool(_POSSESSIVE.match(text, e))
                out.figures.append(Mention(start, e, "figure", fig.name, fig.gender, possessive=poss))
                if poss and (body := owned_body(text, e)):
                    out.anons.append(Mention(start, body, "name", text[start:body], person=False))
            elif kind == "title":
                gap = _TITLE_GAP.match(text, e)
                after = gap.end() if gap else e
                if self._name_re is not None and self._name_re.match(text, after):
                    merge_at, merge_from = after, s
                    continue
                word = _CAPS_WORD.match(text, after)
                if word and word.group(0).casefold() not in CAP_STOP:
                    continue  # "US President Joe Biden": the untracked name decides
                prev = _prev_word(text, s)
                poss = bool(_POSSESSIVE.match(text, e))
                if prev in ("a", "an", "one", "another", "any", "every", "no"):
                    out.anons.append(Mention(s, e, "anon", None, person=False))
                    continue
                former = prev in ("former", "ex", "then") or text[max(0, s - 3) : s] == "ex-"
                fig = self.by_title(matched, day, "former" if former else "")
                if fig is None:
                    out.anons.append(Mention(s, e, "anon", None, person=True, possessive=poss))
                else:
                    out.figures.append(Mention(s, e, "figure", fig.name, fig.gender, possessive=poss))
        return out

    def names(self, text: str, start: int, end: int) -> list[Mention]:
        """Untracked names (and figures written with an untracked role) in `text[start:end]`.

        Done per sentence on demand rather than in `scan`, because most capitalised words in an
        article are never near a speech cue and resolving them all was half of extraction time.
        """
        out: list[Mention] = []
        pos = start
        gender_at, gender_of = -1, ""  # "Mr. Lammy": the honorific before a name gives its gender
        while (m := _CAPS_RE.search(text, pos, end)) is not None:
            s, e = m.start(), m.end()
            pos = e
            if text[s - 1 : s] == "(" or text[s - 2 : s] == ", ":
                tag = _PARTY_TAG_AT.match(text, s, end)
                if tag is not None:
                    pos = tag.end()  # "(D-Wis.)", "(R)", ", R-N.Y.,": a legislator's party and state
                    continue
            first = m.group(0).split(None, 1)
            low = first[0].casefold()
            if low in _NOT_A_NAME or low.endswith("ing") or is_bare_title(low):
                if len(first) > 1:
                    # "The NATO chief", "Chancellor Olaf Scholz": scan again after the first word
                    pos = text.index(first[1], s + len(first[0]))
                    honorific = _HONORIFIC_GENDER.get(low)
                    if honorific:
                        gender_at, gender_of = pos, honorific
                continue
            inner = _INNER_TITLE.search(m.group(0))
            if inner is not None:
                # "House Rep. Paul Ryan", "state Del. Ann Price": the name starts after the title
                gender_at, gender_of = s + inner.end(), _HONORIFIC_GENDER.get(inner.group(1).casefold() + ".", "")
                pos = s + inner.end()
                continue
            um = untracked_mention(text, s, e, self, gender_of if gender_at == s else None)
            if um is not None:
                out.append(um)
        return out


# "Starmer's spokesman", "the Kremlin's spokesman": the owner before a spokesperson.
_SPOKES_OWNER = re.compile(r"(?<![\w\-])((?:[A-Z][\w\-.]*[ \t]+){0,3}[A-Z][\w\-.]*)['’]s[ \t]+(?:[a-z]+[ \t]+)?$")
# "'s defence ministry", "'s office", "'s air force": a body that speaks for its owner.
_OWNED_BODY = re.compile(
    r"['’]s[ \t]+(?:(?:defen[cs]e|foreign|interior|economy|finance|justice|energy|press|presidential|"
    r"general|armed|state|security|emergency|emergencies)[ \t]+)?"
    r"(?:ministry|office|military|army|navy|air[ \t]+force|general[ \t]+staff|armed[ \t]+forces|embassy|"
    r"mission|foreign[ \t]+ministry|government|security[ \t]+service|intelligence[ \t]+agency|"
    r"press[ \t]+service|spokes(?:man|woman|person))(?![\w\-])"
)


def owned_body(text: str, pos: int) -> int:
    """End of "'s defence ministry" at `pos` (after a name), or 0: the body speaks, as written."""
    m = _OWNED_BODY.match(text, pos)
    return m.end() if m else 0


# a title abbreviation inside a capitalised run, with a name after it
_INNER_TITLE = re.compile(r"(?<=\s)(Mr|Mrs|Ms|Dr|Gen|Sen|Rep|Gov|Rev|Del|Sens|Reps|Lt|Col|Sgt|Prof|Capt|Maj|Adm)\.[ \t]+(?=[A-ZÀ-Ý])")
# a party and state tag after a legislator's name, at its start: "D-Wis.)", "R)", "R-N.Y.,", "D-Newport News)"
_PARTY_TAG_AT = re.compile(r"[DRI](?:-[A-Z][\w.]*(?:[ \t][A-Z][\w.]*)?)?(?=[)\],])")
# a sentence adverb at a sentence's start is no surname ("Unfortunately, ..."): "Kelly" and "Reilly" are
_ADVERB = re.compile(r"[A-Z][a-z]+(?:ally|ately|ously|ively|fully|ently|antly|ingly|edly|arly|ually|ably|ibly)")
# a shouted headline is no name ("CONGRESS HAS INVESTIGATED HIM"); "ASSOCIATED PRESS" may be a source
_CAPS_TOKEN = re.compile(r"[A-Z][A-Z’'.\-]+")

def not_a_name(name: str) -> bool:
    """True for a capitalised run the press writes where no person is named: a party-state tag
    ("D-Wis."), a title standing alone ("Rev."), a sentence adverb ("Unfortunately"), a headline
    in capitals ("CONGRESS HAS INVESTIGATED HIM")."""
    toks = name.split()
    if len(toks) == 1:
        word = toks[0]
        if is_party_tag(word) or is_bare_title(word):
            return True
        return bool(_ADVERB.fullmatch(word))
    return sum(1 for t in toks if _CAPS_TOKEN.fullmatch(t)) >= 3


# the lookahead first: a capital letter is rarer than a word boundary, so fewer lookbehind checks
_CAPS_RE = re.compile(rf"(?=[A-ZÀ-Ý])(?<![\w\-’']){_CAPS_BODY}")
_APOSTROPHES = ("'", "’")
_NOT_A_NAME = CAP_STOP | ROLE_WORDS | NATIONALITIES
_PRONOUN_GENDER = {"he": "m", "she": "f"}
_NAME_NEXT = re.compile(r"[ \t]+[A-Z][a-z]")
_TITLE_GAP = re.compile(r"[ \t]*,?[ \t]*")
_CAPS_WORD = re.compile(r"[A-Z][\w]*")


@lru_cache(maxsize=32)
def _build_cached(figures: tuple[Figure, ...]) -> Gazetteer:
    """Compiling the master regex takes ~0.1 s, so one gazetteer per figure list is kept."""
    return Gazetteer(figures)


_WORD_AFTER = re.compile(r"['’]?s?[ \t]+([A-Za-z]+)")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)[\W_]*$")


def _next_word(text: str, pos: int) -> str:
    """The word after a name ("Trump administration": not the person)."""
    m = _WORD_AFTER.match(text, pos)
    return m.group(1).lower() if m else ""


def _prev_word(text: str, pos: int) -> str:
    """The word before a title ("a NATO official", "former NATO chief")."""
    m = _WORD_BEFORE.search(text, max(0, pos - 24), pos)
    return m.group(1).lower() if m else ""


def untracked_mention(
    text: str, start: int, end: int, gazetteer: Gazetteer, gender: str | None = None
) -> Mention | None:
    """An untracked speaker from a capitalised run (leading roles were skipped by the scanner).

    "Olaf Scholz" after "Chancellor" is a tracked figure; "Kristen Michal" stays as written;
    "The Hague" or "Reuters" are kept but marked as not a person, so they are never the antecedent
    of "he". A run that ends in a tracked name ("PM Mark Rutte") is that figure.
    """
    name = text[start:end]
    toks = name.split()
    if len(toks) == 1:
        low = toks[0].casefold()
        if low in CAP_STOP or low in ROLE_WORDS or low in NATIONALITIES:
            return None
    if not_a_name(name):
        return None
    poss = bool(_POSSESSIVE.match(text, end))
    if poss and (body := owned_body(text, end)):
        return Mention(start, body, "name", text[start:body], person=False)  # "Ukraine's defence ministry"
    for k in range(len(toks)):
        fig = gazetteer.lookup(" ".join(toks[k:]) if k else name)
        if fig is not None:
            fstart = start if k == 0 else text.index(toks[k], start + len(toks[0]))
            return Mention(fstart, end, "figure", fig.name, fig.gender, possessive=poss)
    person = len(toks) >= 2 and not any(t.casefold().strip(".") in ORG_WORDS for t in toks) and not name.isupper()
    return Mention(start, end, "name", name, gender, possessive=poss, person=person or gender is not None)


