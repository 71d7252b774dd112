"""`/news` command text → a `Command` (or a `Usage` reply when it cannot mean anything).

Pure: no I/O, no database. Chat clients mangle quotes ("smart quotes" on phones and macOS), so the
tokenizer treats “curly”, ‘single’ and "straight" quotes alike, and an unterminated quote simply
runs to the end instead of being an error. `key:value` options are pulled out of the arguments;
the raw text after the subcommand is kept too, because `search` hands it to the search language
as it was typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import process

from bot.chat.messages import Usage

PREFIX_RE = re.compile(r"^\s*/?news\b", re.IGNORECASE)
MAX_LEN = 2000  # Slack caps slash-command text near 4,000; longer input is cut, not refused
OPEN_CLOSE = {'"': '"', "“": "”", "„": "“", "”": "”", "'": "'", "‘": "’", "’": "’", "«": "»", "‚": "‘"}
OPTION_RE = re.compile(r"^([a-z][a-z_]{0,20}):(.*)$", re.IGNORECASE | re.DOTALL)
MAX_PAGE = 1000
# Options whose value may be several words typed without quotes: the words after them are theirs.
MULTI_WORD = frozenset({"figure", "keyword", "feed", "include", "exclude", "match", "alias", "aliases", "title"})


@dataclass(frozen=True)
class Spec:
    usage: str
    summary: str
    options: tuple[str, ...] = ()
    needs_args: bool = False
    hidden: bool = False  # for adapters (autocomplete), not listed in help or as a Discord subcommand


SPECS: dict[str, Spec] = {
    "search": Spec(
        'search WORDS ["phrase"] [-exclude] [topic:nato] [source:reuters] [since:7d]',
        "full-text search of the archive",
        ("topic", "source", "since", "before", "after", "figure", "page"),
        needs_args=True,
    ),
    "quotes": Spec(
        "quotes FIGURE [since:7d] [topic:ukraine]",
        "what a person said, newest first",
        ("since", "topic", "page", "kind"),
        needs_args=True,
    ),
    "figure": Spec("figure NAME", "who a tracked figure is, recent statements, quotes per week", ("page",), True),
    "digest": Spec("digest [TOPIC…] [since:24h]", "top stories and statements since a time", ("since", "topic")),
    "subscribe": Spec(
        'subscribe [figure:NAME | topic:NAME | keyword:"WORDS" | feed:URL|NAME|#ID | NAME] [alerts:on|off] '
        '[digest:"0 8 * * *"] [tz:Europe/Amsterdam] [stream:on|off] [include:WORDS,…] [exclude:WORDS,…] '
        "[match:/REGEX/] [mention:@here|@role|<@U…>] [format:compact|full]",
        "this channel gets alerts, a digest, or every new article (stream) for a figure, topic, keyword or feed",
        ("figure", "topic", "keyword", "feed", "alerts", "digest", "tz", "timezone", "stream", "include", "exclude",
         "match", "mention", "format"),
    ),
    "unsubscribe": Spec(
        "unsubscribe [figure:NAME | topic:NAME | keyword:WORDS | feed:URL|NAME|#ID | NAME | all]",
        "stop alerts, digests and streams for this channel",
        ("figure", "topic", "keyword", "feed"),
    ),
    "feeds": Spec(
        "feeds [list | add URL [topic:nato] | remove URL-or-ID] [page:N]",
        "the feeds and their health (add/remove: admins)",
        ("topic", "page", "full_text"),
    ),
    "story": Spec("story s12 | a345", "every outlet's article of a story (the alerts' \"All outlets\" button)", (), True),
    "track": Spec(
        'track NAME [alias:"A, B"] [title:"Foreign minister"] [gender:m|f]',
        "admins: track a person (their past statements in the archive count at once)",
        ("alias", "aliases", "title", "gender"),
        needs_args=True,
    ),
    "untrack": Spec("untrack NAME", "admins: stop tracking a person tracked with `track`", (), True),
    "status": Spec("status", "feed health, last ingest cycle, pending and failed deliveries"),
    "home": Spec("home", "channels and their subscriptions, tracked figures, feed health (Slack's Home tab)"),
    "help": Spec("help [SUBCOMMAND]", "this help"),
    "complete": Spec("complete SUBCOMMAND TYPED", "what to offer while someone types an option", (), True, hidden=True),
}
ALIASES = {"find": "search", "s": "search", "subscriptions": "subscribe", "subs": "subscribe", "q": "quotes", "quote": "quotes", "who": "figure", "sub": "subscribe",
           "unsub": "unsubscribe", "feed": "feeds", "?": "help", "stats": "status"}


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    rest: str = ""  # the text after the subcommand, as typed (search keeps its own language)

    @property
    def page(self) -> int:
        """1-based page number from `page:N`, clamped; junk means page 1."""
        try:
            return max(1, min(int(self.options.get("page", "1")), MAX_PAGE))
        except ValueError:
            return 1

    @property
    def text(self) -> str:
        """The positional arguments joined: a figure name, a topic, a URL."""
        return " ".join(self.args).strip()


def strip_prefix(text: str) -> str:
    """Drop a leading `/news` (or `news`) so `/news quotes rutte` and `quotes rutte` are the same."""
    m = PREFIX_RE.match(text)
    return text[m.end():] if m else text


def tokenize(text: str) -> list[str]:
    """Split like a shell, but forgiving: curly quotes count, unterminated quotes run to the end.

    A quoted part glued to a word stays in that token (`digest:"0 8 * * *"` is one token with the
    quotes removed: `digest:0 8 * * *`).
    """
    tokens: list[str] = []
    buf: list[str] = []
    in_token = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            if in_token:
                tokens.append("".join(buf))
                buf, in_token = [], False
            i += 1
            continue
        if ch in OPEN_CLOSE and (ch not in "'’" or not in_token):
            # An apostrophe inside a word ("Zelensky's") is a letter, not a quote.
            closers = {OPEN_CLOSE[ch], ch, '"', "”", "“"} if ch not in "'‘’" else {OPEN_CLOSE[ch], ch}
            j = i + 1
            while j < n and text[j] not in closers:
                j += 1
            buf.append(text[i + 1:j])
            in_token = True
            i = j + 1
            continue
        buf.append(ch)
        in_token = True
        i += 1
    if in_token:
        tokens.append("".join(buf))
    return tokens


def split_options(tokens: list[str], allowed: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Pull `key:value` tokens whose key is allowed; other tokens (URLs, `a:b` words) stay args.

    Words after a multi-word option (`keyword:peace talks`) belong to it, up to the next option.
    """
    args: list[str] = []
    options: dict[str, str] = {}
    open_key: str | None = None  # a multi-word option still taking words
    for tok in tokens:
        m = OPTION_RE.match(tok)
        if m and m.group(1).lower() in allowed:
            key = m.group(1).lower()
            options[key] = m.group(2).strip()
            open_key = key if key in MULTI_WORD else None
        elif tok and open_key is not None:
            options[open_key] = f"{options[open_key]} {tok}".strip()  # `keyword:peace talks` as help shows it
        elif tok:
            args.append(tok)
    return args, options


def usage_for(name: str, problem: str = "") -> Usage:
    spec = SPECS.get(name)
    return Usage(command=name, usage=spec.usage if spec else "help", problem=problem)


def closest_subcommand(word: str) -> str | None:
    found = process.extractOne(word.lower(), list(SPECS), score_cutoff=70)
    return found[0] if found else None


def parse(text: str) -> Command | Usage:
    """The command a line of chat means; never raises."""
    body = strip_prefix((text or "")[:MAX_LEN]).replace("\x00", " ").strip()
    if not body:
        return Command("help")
    head, _, rest = body.partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = f"{more} {rest}".strip()
    name = ALIASES.get(head.lower(), head.lower())
    rest = rest.strip()
    if name not in SPECS:
        guess = closest_subcommand(head)
        problem = f"unknown subcommand '{head[:40]}'" + (f"; did you mean `{guess}`?" if guess else "")
        return Usage(command="", usage="/news " + " | ".join(SPECS), problem=problem)
    spec = SPECS[name]
    args, options = split_options(tokenize(rest), spec.options)
    if name == "search":
        # The search language understands its own filters; only page: is ours.
        rest = " ".join(t for t in _raw_parts(rest) if not t.lower().startswith("page:"))
        if not rest.strip() and not args:
            return usage_for(name, "what should I search for?")
    elif spec.needs_args and not args:
        return usage_for(name, "missing argument")
    if "page" in options and not options["page"].isdigit():
        return usage_for(name, f"page:{options['page'][:20]} is not a page number")
    return Command(name=name, args=tuple(args), options=options, rest=rest)


def _raw_parts(rest: str) -> list[str]:
    return rest.split()


def help_lines() -> list[tuple[str, str]]:
    return [(spec.usage, spec.summary) for spec in SPECS.values() if not spec.hidden]
