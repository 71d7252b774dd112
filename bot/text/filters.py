"""A subscription's article filters: include/exclude words and a bounded regular expression (pure).

Words match whole words, case- and punctuation-blind (`include:ceasefire,peace talks`). The regular
expression runs on the `regex` engine with a time limit, so a pattern that backtracks
catastrophically (`(a+)+$`) costs at most `MATCH_TIMEOUT_S` per article and never stalls ingestion;
such a pattern is refused when it is set, when a trial on hostile text already runs out of time,
and one that still slips through (written to the database, or slow only on some text) is not run
again in the process after `STRIKES_MAX` time-outs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import regex

MATCH_TIMEOUT_S = 0.02  # the regex engine checks it between steps: measured overshoot up to ~3x
MATCH_TEXT_MAX = 4000  # characters of title + text a pattern sees
PATTERN_MAX = 300
WORDS_MAX = 500
_NON_WORD = re.compile(r"[^\w]+")
# Text shapes that make backtracking patterns blow up: long runs of one character, of words, of digits.
_TRIALS = ("a" * 3000 + "!", "aaa bbb " * 400 + "!", "1" * 3000 + "x", "x " * 1500 + "!")


class FilterError(ValueError):
    """A filter a user wrote that cannot be used; the message says why, in one line."""


def words_of(value: str | None) -> tuple[str, ...]:
    """`"ceasefire, peace talks"` → ("ceasefire", "peace talks"), normalised as `normalise` does."""
    return tuple(w for w in (normalise(part) for part in (value or "").split(",")) if w)


def normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def has_any(text_norm: str, words: tuple[str, ...]) -> bool:
    padded = f" {text_norm} "
    return any(f" {w} " in padded for w in words)


def compile_pattern(source: str) -> regex.Pattern[str]:
    """The pattern of `match:/…/`, checked: it compiles, is short, and is not slow on hostile text."""
    body = pattern_of(source)
    if not body:
        raise FilterError("match: needs a pattern, like match:/cease-?fire/")
    if len(body) > PATTERN_MAX:
        raise FilterError(f"match: pattern longer than {PATTERN_MAX} characters")
    try:
        pattern = regex.compile(body, regex.IGNORECASE)
    except regex.error as exc:
        raise FilterError(f"match: not a regular expression ({exc})") from None
    for trial in _TRIALS:
        try:
            pattern.search(trial, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise FilterError("match: that pattern backtracks too much (nested repeats like (a+)+); simplify it") from None
    return pattern


def pattern_of(source: str) -> str:
    """The pattern as stored: the text between the slashes (a trailing `i` is allowed; case never counts)."""
    body = source.strip()
    if len(body) >= 2 and body.startswith("/") and body.rstrip("i").endswith("/"):
        return body[1:body.rstrip("i").rindex("/")]
    return body


@dataclass(frozen=True)
class Verdict:
    passed: bool
    timed_out: bool = False  # the pattern ran out of time: the article is not posted


def check(text: str, include: str | None, exclude: str | None, match: str | None) -> Verdict:
    """Does an article's `text` (title and body) pass a subscription's filters?"""
    if include or exclude:
        norm = normalise(text)
        if include and not has_any(norm, words_of(include)):
            return Verdict(False)
        if exclude and has_any(norm, words_of(exclude)):
            return Verdict(False)
    if match:
        if _STRIKES.get(match, 0) >= STRIKES_MAX:
            return Verdict(False, timed_out=True)  # known to run out of time: not tried again
        try:
            found = _cached(match).search(text[:MATCH_TEXT_MAX], timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            _STRIKES[match] = _STRIKES.get(match, 0) + 1
            return Verdict(False, timed_out=True)
        except regex.error:
            return Verdict(False)
        if found is None:
            return Verdict(False)
    return Verdict(True)


_COMPILED: dict[str, regex.Pattern[str]] = {}
# Patterns that ran out of time, and how often. After STRIKES_MAX a pattern is not run again in this
# process: a bad pattern costs a few time limits, not one per article of every cycle.
_STRIKES: dict[str, int] = {}
STRIKES_MAX = 3


def _cached(source: str) -> regex.Pattern[str]:
    """Compiled without the trial (it was tried when set); a bounded cache of the patterns in use."""
    pattern = _COMPILED.get(source)
    if pattern is None:
        if len(_COMPILED) > 1000:
            _COMPILED.clear()
        pattern = _COMPILED[source] = regex.compile(source, regex.IGNORECASE)
    return pattern
