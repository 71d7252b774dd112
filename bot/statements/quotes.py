"""Text layout for extraction: paragraphs, quotation spans and sentences, all as offsets.

Everything works on offsets into the original text so that statements can point back into it.
Quotation marks in real news are messy (curly and straight mixed, apostrophes that look like closing
single quotes, paragraphs that continue a quotation without closing it), so quote pairing is done
here once and the rest of the extractor only sees `Quote` spans.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from bot.statements.lexicon import ABBREVIATIONS, BOILERPLATE_RE

_DOUBLE_OPEN = "“«„"
_DOUBLE_CLOSE = "”»"
_DOUBLE_MARKS = re.compile(r"[“”\"«»„]")
_SINGLE_MARKS = re.compile(r"[‘’']")
_LETTER = re.compile(r"[^\W\d_]")
_OPEN_CONTEXT = set(" \t\n([{—–-/:;,“\"")


@dataclass(frozen=True)
class Quote:
    """A quotation: `open`/`close` are the mark positions; `start`/`end` the trimmed inner text.

    `closed` is False for a quotation that runs to the end of its paragraph (the press convention
    for a quotation that continues in the next paragraph).
    """

    open: int
    close: int  # index of the closing mark, or the paragraph end when not closed
    start: int
    end: int
    closed: bool
    single: bool
    paragraph: int

    @property
    def outer_end(self) -> int:
        """First offset after the closing mark."""
        return self.close + 1 if self.closed else self.close


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """Paragraph spans, skipping blank lines and page furniture.

    A line break inside a sentence (a line ending in a lower-case word or comma, followed by a line
    starting in lower case or with an opening quotation mark) is joined rather than split, because
    scraped text often breaks lines mid-sentence.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    n = len(text)
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        stripped = line.strip()
        if not stripped:
            continue
        if len(stripped) < 160 and BOILERPLATE_RE.search(stripped):
            continue
        lead = len(line) - len(line.lstrip())
        trail = len(line) - len(line.rstrip())
        s, e = start + lead, end - trail
        if spans and _continues(text, spans[-1], s):
            spans[-1] = (spans[-1][0], e)
        else:
            spans.append((s, e))
    return [(s, min(e, n)) for s, e in spans]


def _continues(text: str, prev: tuple[int, int], start: int) -> bool:
    """True when the line at `start` carries on the sentence of the previous paragraph."""
    last = text[prev[1] - 1]
    first = text[start]
    if start - prev[1] > 2:  # a blank line in between is a real paragraph break
        return False
    if not (last.islower() or last == ","):
        return False
    return first.islower() or (first in "“\"‘" and text[prev[0] : prev[1]].count("“") <= text[prev[0] : prev[1]].count("”"))


def find_quotes(text: str, start: int, end: int, paragraph: int) -> list[Quote]:
    """Quotation spans in one paragraph: double marks first, then single marks outside them."""
    quotes: list[Quote] = []
    open_at: int | None = None
    for m in _DOUBLE_MARKS.finditer(text, start, end):
        i = m.start()
        ch = text[i]
        if open_at is None:
            if ch in _DOUBLE_OPEN or (ch == '"' and _opens(text, i, start, end)):
                open_at = i
        elif ch in _DOUBLE_CLOSE or ch == '"':
            _add(quotes, text, open_at, i, True, False, paragraph)
            open_at = None
        elif ch in _DOUBLE_OPEN:  # a new opening before a close: the previous one never closed
            _add(quotes, text, open_at, i, False, False, paragraph)
            open_at = i
    if open_at is not None:
        _add(quotes, text, open_at, end, False, False, paragraph)
    quotes.extend(_single_quotes(text, start, end, paragraph, quotes))
    quotes.sort(key=lambda q: q.open)
    return quotes


def _opens(text: str, i: int, start: int, end: int) -> bool:
    """A straight double mark opens when it follows a space or bracket and precedes a non-space."""
    before = text[i - 1] if i > start else " "
    after = text[i + 1] if i + 1 < end else " "
    return before in _OPEN_CONTEXT and not after.isspace()


def _add(quotes: list[Quote], text: str, open_at: int, close: int, closed: bool, single: bool, par: int) -> None:
    """Record a quotation if its inner text looks like words (not "*" or a lone symbol)."""
    s, e = open_at + 1, close
    while s < e and text[s].isspace():
        s += 1
    while e > s and (text[e - 1].isspace() or text[e - 1] in ",;:"):
        e -= 1
    if e <= s or not _LETTER.search(text, s, e):
        return
    if not closed and len(text[s:e].split()) < 4:
        return  # a stray unmatched mark, not a continuing quotation
    quotes.append(Quote(open_at, close, s, e, closed, single, par))


def _single_quotes(text: str, start: int, end: int, paragraph: int, doubles: list[Quote]) -> list[Quote]:
    """Single-quoted spans outside double quotations, telling apostrophes (don’t, Ukraine’s) apart."""
    found: list[Quote] = []
    marks = [m.start() for m in _SINGLE_MARKS.finditer(text, start, end)]
    if not marks:
        return found

    double_opens = [q.open for q in doubles]

    def inside_double(pos: int) -> bool:
        k = bisect_left(double_opens, pos + 1) - 1
        return k >= 0 and doubles[k].open <= pos <= doubles[k].close

    k = 0
    while k < len(marks):
        i = marks[k]
        k += 1
        ch = text[i]
        before = text[i - 1] if i > start else " "
        after = text[i + 1] if i + 1 < end else " "
        if ch == "’" or before not in _OPEN_CONTEXT or not after.isalpha() or inside_double(i):
            continue
        closer: int | None = None
        fallback: int | None = None
        for j in range(k, len(marks)):
            c = marks[j]
            if c - i > 600:
                break
            if text[c] == "‘":
                continue
            prev = text[c - 1]
            nxt = text[c + 1] if c + 1 < end else " "
            if prev.isspace() or nxt.isalnum():
                continue  # an apostrophe inside a word, or another opening
            if prev in "sS" and nxt.isspace():
                fallback = fallback if fallback is not None else c  # leaders’ last: possessive
                continue
            closer = c
            k = j + 1
            break
        if closer is None and fallback is not None:
            closer = fallback
            k = marks.index(fallback) + 1
        if closer is not None:
            _add(found, text, i, closer, True, True, paragraph)
    return found


_BOUNDARY = re.compile(r"([.!?…]+)([”\"’')\]]*)(\s+)(?=[“\"‘'(\[]?[A-Z0-9À-Ý])")
_PREV_WORD = re.compile(r"([\w.]+)$")


def split_sentences(text: str, start: int, end: int, quotes: list[Quote]) -> list[tuple[int, int]]:
    """Sentence spans in a paragraph; boundaries inside a quotation do not end the sentence."""
    spans: list[tuple[int, int]] = []
    s = start
    # quotations in a paragraph do not overlap, so a boundary is inside one when it falls between
    # the opening mark of the last quotation that opened before it and that quotation's close
    opens = [q.open for q in quotes]
    # an unclosed quotation runs to the paragraph end: no boundary after the first one opens
    first_unclosed = next((q.open for q in quotes if not q.closed), end)
    for m in _BOUNDARY.finditer(text, start, end):
        punct_end = m.end(2)
        if punct_end - 1 > first_unclosed:
            continue
        k = bisect_left(opens, punct_end - 1) - 1
        if k >= 0 and (not quotes[k].closed or punct_end - 1 < quotes[k].close):
            continue
        if m.group(1) == ".":
            w = _PREV_WORD.search(text, max(start, m.start() - 12), m.start())
            word = w.group(1).lower() if w else ""
            if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()) or (
                "." in word and len(word) <= 4
            ):
                continue
        spans.append((s, punct_end))
        s = m.end()
    if s < end:
        spans.append((s, end))
    return spans
