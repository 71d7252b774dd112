"""Pure judgements about text: is a feed entry only a summary, and is a fetched page really the story?

The ingester asks `needs_full_text` when it stores an entry, so only summaries cost a page fetch.
The queue asks `judge_page` after extraction, so a consent wall, a paywall teaser or an error page
served with status 200 never replaces the feed's summary: the archive stays honest about what was
read ("summary only") instead of storing a cookie notice as the article.
"""

from __future__ import annotations

import re

from bot.text.clean import html_to_text, looks_like_html

SUMMARY_MAX_WORDS = 150  # feed text shorter than this is a teaser, not the article
PAGE_MIN_CHARS = 400  # extracted text shorter than this is not a news story
MARKER_WINDOW = 2500  # wall/teaser phrases count only in texts this short, or in a text's last lines
MIN_SUMMARY_OVERLAP = 0.4  # share of the summary's content words the page must contain

_TRUNCATED_TAIL = re.compile(
    r"(?:…|\.\.\.|\[…\]|\[\.\.\.\]|\(…\)|\(\.\.\.\)|\(more…?\)"
    r"|read\s+(?:the\s+)?(?:more|full\s+(?:story|article))|continue\s+reading|more\s*»|keep\s+reading)"
    r"[\s.:»›→>\])]*$",
    re.IGNORECASE,
)

_CONSENT = re.compile(
    r"we\s+value\s+your\s+privacy|(?:use|uses)\s+cookies|cookie\s+(?:policy|settings|preferences)|"
    r"accept\s+all|manage\s+(?:options|preferences|choices|settings)|consent|your\s+choices|"
    r"store\s+and(?:/or)?\s+access\s+information\s+on\s+(?:a|your)\s+device|our\s+partners",
    re.IGNORECASE,
)
_PAYWALL = re.compile(
    r"subscribe\s+to\s+(?:continue|read|keep)|(?:for|available\s+to)\s+subscribers\s+only|"
    r"already\s+a\s+subscriber|to\s+continue\s+reading|this\s+(?:article|content)\s+is\s+(?:for|reserved\s+for)\s+"
    r"(?:subscribers|members)|log\s*in\s+to\s+(?:read|continue)|premium\s+(?:article|content)|"
    r"start\s+your\s+(?:free\s+)?trial|unlock\s+(?:this|the\s+full)\s+(?:article|story)",
    re.IGNORECASE,
)
_ERROR = re.compile(
    r"\b404\b\W{0,3}(?:page\s+)?not\s+found|(?:error|http)\W{0,3}404\b|\b404\W{0,3}error|page\s+(?:not\s+found|cannot\s+be\s+found|you\s+(?:were\s+)?(?:looking|requested))|"
    r"(?:does\s+not|doesn't|no\s+longer)\s+exist|no\s+longer\s+available|(?:internal\s+)?server\s+error|"
    r"access\s+denied|something\s+went\s+wrong|are\s+you\s+a\s+robot|verify\s+you\s+are\s+(?:a\s+)?human",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_STOP = frozenset(
    [
        "that",
        "this",
        "with",
        "from",
        "have",
        "were",
        "been",
        "their",
        "there",
        "which",
        "would",
        "could",
        "about",
        "after",
        "before",
        "while",
        "said",
        "says",
        "will",
        "they",
        "them",
        "than",
        "then",
        "when",
        "what",
        "where",
        "also",
        "into",
        "over",
        "more",
        "most",
        "some",
        "such",
        "only",
        "other",
        "its",
        "it's",
    ]
)


def _plain(text: str) -> str:
    return html_to_text(text) if looks_like_html(text) else text


def needs_full_text(entry_text: str | None, feed_full_text_mode: str = "auto") -> bool:
    """Whether an entry's content is only a summary worth replacing by the linked page's text.

    `always` and `never` are the feed's setting (config `full_text`); `auto` fetches when the text
    is short or visibly cut off ("…", "[…]", "Read more").
    """
    if feed_full_text_mode == "never":
        return False
    if feed_full_text_mode == "always":
        return True
    text = _plain(entry_text or "").strip()
    if not text:
        return True
    if _TRUNCATED_TAIL.search(text[-80:]):
        return True
    return len(text.split()) < SUMMARY_MAX_WORDS


def _content_words(text: str) -> list[str]:
    return [w for w in (m.casefold() for m in _WORD.findall(text)) if w not in _STOP]


def summary_overlap(summary: str, page_text: str) -> float | None:
    """Share of the summary's content words found in the page (None when the summary says too little)."""
    summary = _plain(summary).strip()
    truncated = bool(_TRUNCATED_TAIL.search(summary[-80:]))
    summary = _TRUNCATED_TAIL.sub("", summary)
    words = _content_words(summary)
    if truncated and words:
        words = words[:-1]  # the word before "…" may be cut in half
    unique = set(words)
    if len(unique) < 4:
        return None
    page = set(_content_words(page_text))
    return len(unique & page) / len(unique)


def _has_marker(pattern: re.Pattern[str], text: str) -> bool:
    if len(text) <= MARKER_WINDOW:
        return bool(pattern.search(text))
    return bool(pattern.search(text[-400:]))


def judge_page(raw_text: str, clean_text: str, *, summary: str | None = None) -> str | None:
    """None when the page holds the story; otherwise why the feed's summary is kept.

    `raw_text` is the extractor's output before cleaning (so that wall and teaser phrases, which
    the cleaner would drop, are still visible); `clean_text` is what would be stored.
    """
    # An error page says so in its heading, or says little else; a story may mention "404".
    if _ERROR.search(raw_text[:200]) or (_ERROR.search(raw_text) and len(clean_text) < PAGE_MIN_CHARS):
        return "error page"
    # A consent wall names several of its phrases and has little else to say: a story that mentions
    # cookies, or carries a banner the cleaner drops, still has its own paragraphs.
    lines = [ln for ln in raw_text.splitlines() if ln.strip()]
    consent_lines = [ln for ln in lines if _CONSENT.search(ln)]
    consent_phrases = {m.casefold() for ln in consent_lines for m in _CONSENT.findall(ln)}
    other_chars = sum(len(ln) for ln in lines if not _CONSENT.search(ln))
    if len(consent_phrases) >= 2 and other_chars < PAGE_MIN_CHARS:
        return "consent wall"
    if _has_marker(_PAYWALL, raw_text):
        return "paywall teaser"
    summary_plain = _plain(summary or "").strip()
    if len(clean_text) < PAGE_MIN_CHARS:
        return "text too short"
    if len(clean_text) < 0.8 * len(summary_plain):  # the feed already carried more than the page gives
        return "text shorter than the feed's"
    if summary_plain:
        overlap = summary_overlap(summary_plain, clean_text)
        if overlap is not None and overlap < MIN_SUMMARY_OVERLAP:
            return "text unlike the summary"
    return None
