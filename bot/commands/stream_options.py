"""The stream options of `/news subscribe`: stream, include, exclude, match, mention, format (pure).

Each option given sets its column; `none` (or `off`) clears it; an option not given leaves the
subscription's current value alone. A bad value is a one-line usage problem, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.store.models import Subscription
from bot.text.filters import WORDS_MAX, FilterError, compile_pattern, pattern_of, words_of

STREAM_OPTIONS = ("stream", "include", "exclude", "match", "mention", "format")
CLEAR = ("none", "off", "no", "-")
MENTION_RE = re.compile(r"^(@here|@channel|@everyone|<@[!&]?[A-Za-z0-9]{2,30}>|<!subteam\^[A-Za-z0-9]{2,30}>|@[\w.-]{1,80})$")
FORMATS = ("compact", "full")


@dataclass(frozen=True)
class StreamOptions:
    """What was asked; None: not given (keep), "": clear."""

    stream: bool | None = None
    include: str | None = None
    exclude: str | None = None
    match: str | None = None
    mention: str | None = None
    format: str | None = None

    @property
    def streams_only(self) -> bool:
        """Options that only a stream uses (mention also pings alerts)."""
        return any(v is not None for v in (self.stream, self.include, self.exclude, self.match, self.format))

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.stream, self.include, self.exclude, self.match, self.mention, self.format))

    def apply(self, sub: Subscription, *, default_stream: bool) -> None:
        if self.stream is not None:
            sub.stream = self.stream
        elif default_stream or self.include or self.exclude or self.match:
            sub.stream = True
        for column, value in (("include_words", self.include), ("exclude_words", self.exclude), ("match", self.match),
                              ("mention", self.mention), ("format", self.format)):
            if value is not None:
                setattr(sub, column, value or None)


def parse_stream_options(options: dict[str, str]) -> StreamOptions | str:
    """The options as typed → StreamOptions, or the problem in one line."""
    stream: bool | None = None
    if "stream" in options:
        v = options["stream"].strip().lower()
        if v in ("on", "yes", "true", "1", ""):
            stream = True
        elif v in CLEAR + ("false", "0"):
            stream = False
        else:
            return "stream: is on or off"
    words: dict[str, str | None] = {}
    for key in ("include", "exclude"):
        raw = options.get(key)
        if raw is None:
            words[key] = None
        elif raw.strip().lower() in CLEAR:
            words[key] = ""
        else:
            found = words_of(raw)
            if not found:
                return f"{key}: needs words, like {key}:ceasefire,\"peace talks\""
            joined = ",".join(found)
            if len(joined) > WORDS_MAX:
                return f"{key}: at most {WORDS_MAX} characters of words"
            words[key] = joined
    match: str | None = None
    if "match" in options:
        raw = options["match"]
        if raw.strip().lower() in CLEAR:
            match = ""
        else:
            try:
                compile_pattern(raw)
            except FilterError as exc:
                return str(exc)
            match = pattern_of(raw)
    mention: str | None = None
    if "mention" in options:
        raw = options["mention"].strip()
        if raw.lower() in CLEAR:
            mention = ""
        elif not MENTION_RE.match(raw):
            return "mention: is @here, @channel, a role like @desk or <@&123…>, or a user like <@U123…>"
        else:
            mention = raw
    fmt: str | None = None
    if "format" in options:
        fmt = options["format"].strip().lower()
        if fmt not in FORMATS:
            return "format: is compact or full"
    return StreamOptions(stream, words["include"], words["exclude"], match, mention, fmt)


def describe_stream(sub: Subscription) -> list[str]:
    """The stream parts of a subscription's one-line description."""
    if not sub.stream:
        return []
    parts = ["every new article"]
    if sub.include_words:
        parts.append(f"include {sub.include_words}")
    if sub.exclude_words:
        parts.append(f"exclude {sub.exclude_words}")
    if sub.match:
        parts.append(f"match /{sub.match}/")
    if sub.mention:
        parts.append(f"mention {sub.mention}")
    parts.append(sub.format or "full")
    return parts
