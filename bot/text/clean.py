"""One cleaner for every way text arrives: seed files, feed HTML, fetched pages.

Pure functions: text or HTML in, a `CleanDoc` out. Site furniture (skip links, comment forms,
"related stories" teasers, share buttons) is removed line by line, so that the archive, the search
index and statement extraction all see only the story.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from bot.text.dates import infer_published

# Lines that are site furniture wherever they appear. Matched against a whole, stripped line.
_BOILERPLATE_LINES = [
    r"press\s+[\"“”']?enter[\"“”']?\s+to\s+skip\s+to\s+(main\s+)?content\.?",
    r"skip\s+to\s+(main\s+)?(content|navigation)\.?",
    r"leave\s+a\s+(reply|comment)\.?",
    r"(cancel\s+reply|post\s+comment|submit\s+comment)\.?",
    r"your\s+email\s+address\s+will\s+not\s+be\s+published\.?.*",
    r"required\s+fields\s+are\s+marked.*",
    r"[\"“”']?\*[\"“”']?\s+indicates\s+required\s+fields\.?",
    r"(save\s+my\s+name,?\s+email.*|notify\s+me\s+of\s+(new\s+)?(follow-up\s+comments|posts).*)",
    r"(comment|name|email|website)\s*\*?:?",
    r"(you\s+may\s+also\s+like|related\s+(stories|articles|posts)|read\s+more|recommended(\s+for\s+you)?|more\s+from\s+\w+)\b.*",
    r"(share|share\s+this|share\s+on\s+\w+|tweet|email\s+this|print\s+this|follow\s+us.*|subscribe(\s+now)?|sign\s+up\s+for.*newsletter.*)[:.!]?",
    r"(advertisement|sponsored(\s+content)?|ad)\.?",
    r"(accept|reject)\s+(all\s+)?cookies\.?|we\s+use\s+cookies.*",
    r"(image|photo|video)\s*(credit|:).{0,80}",
    r"(previous|next)\s+(article|post|story)\b.{0,120}",
    r"all\s+rights\s+reserved\.?.*|©.{0,120}",
    r"(tags?|filed\s+under|categories)\s*:.{0,200}",
    r"click\s+here\s+to\s+.{0,120}",
    r"loading\.{0,3}|please\s+enable\s+javascript.*",
]
# Fetched pages: consent banners, "most read"/related blocks, comment counters and
# in-article teaser links that extractors keep when a site puts them inside the story body.
_BOILERPLATE_LINES += [
    r"we\s+value\s+your\s+privacy\.?|manage\s+(cookie\s+)?(options|preferences|settings|choices)\.?",
    r"accept\s+all(\s+cookies)?\.?|cookie\s+(settings|policy|preferences|notice)\.?",
    r"(most\s+(read|popular|viewed|shared)|trending(\s+now)?|top\s+stories|more\s+on\s+this\s+story|editor'?s\s+picks?)\s*:?",
    r"related(\s+(topics|coverage|content|links|reading))?\s*:?",
    r"\d+\s+comments?|(show|view|load|read)\s+(all\s+)?\d*\s*comments.*|comments\s+are\s+closed\.?",
    r"join\s+the\s+conversation.*|log\s*in\s+to\s+(comment|reply).*",
    r"(read\s+next|see\s+also|also\s+read|read\s+also)\s*:.{0,200}|listen\s+to\s+this\s+article.{0,40}",
]
_BOILERPLATE_RE = re.compile(r"^(?:[•·▪►>*\-–—\s]*)(?:" + "|".join(_BOILERPLATE_LINES) + r")\s*$", re.IGNORECASE)
_BYLINE_RE = re.compile(r"^by\s*(\|.*)?$|^by\s+[\w .'-]{2,60}\s*(\|.*)?$", re.IGNORECASE)
_ODD_SPACES = ("  ", "\t", "\u00a0", "\u2009", "\u202f", "\u200b")
_ODD_SPACES_RE = re.compile(r"[ \t\u00a0\u2009\u202f\u200b]{2,}|[\t\u00a0\u2009\u202f\u200b]")
_BLOCK_TAGS = (
    "p",
    "div",
    "br",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "tr",
    "section",
    "article",
    "header",
    "footer",
    "figcaption",
    "pre",
    "dd",
    "dt",
)
_DROP_TAGS = ("script", "style", "noscript", "iframe", "svg", "form", "nav", "aside", "button", "select", "template")


@dataclass(frozen=True)
class CleanDoc:
    title: str | None
    text: str
    published: date | None
    published_inferred: bool = False


def looks_like_html(raw: str) -> bool:
    return bool(_HTML_HINT.search(raw[:2000].lower()))


_BLOCK_SELECTOR = ",".join(_BLOCK_TAGS)
# A dropped element can only exist if its start tag is written out ("<script", "<svg", ...).
_DROP_HINT = re.compile("<(?:" + "|".join(_DROP_TAGS) + ")", re.IGNORECASE)
_HTML_HINT = re.compile(
    r"<(?:html|body|head|p|div|br|hr|ul|ol|li|dl|dd|dt|table|tr|td|th|img|em|strong|b|i|u|blockquote|pre"
    r"|section|article|header|footer|figure|figcaption|span|a|h[1-6]|script|style|iframe)[\s>/]"
)


def html_to_text(markup: str) -> str:
    """HTML to paragraphs of text, one block element a line, scripts and forms dropped.

    One CSS query per step (not one per tag: each query walks the whole tree), and the drop step
    only when a droppable start tag is written at all. Dropping stays one tag at a time, so an
    element inside another dropped one is never touched after its ancestor is gone.
    """
    tree = HTMLParser(markup)
    if _DROP_HINT.search(markup):
        for tag in _DROP_TAGS:
            for node in tree.css(tag):
                node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ""
    for node in root.css(_BLOCK_SELECTOR):
        if node.tag == "br":
            node.replace_with("\n")
        else:
            node.insert_before("\n\n")
            node.insert_after("\n\n")
    return html.unescape(root.text(separator="", strip=False))


# Markup made of nothing but text, <p> and <br> (what most feeds carry): lower-case p/br tags
# without attributes, and no entity, NUL, CR, BOM or lone surrogate (lexbor drops or rewrites
# those). Anything else goes through lexbor.
_SIMPLE_TAGS = (("<p>", "\n\n"), ("</p>", "\n\n"), ("<br>", "\n"), ("<br/>", "\n"), ("<br />", "\n"))
_ODD_CHARS = ("&", "\x00", "\r", "\ufeff")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _simple_markup_text(markup: str) -> str | None:
    """What `clean_text` makes of simple markup without building a DOM (None: not simple).

    Not character for character what `html_to_text` returns: lexbor drops leading whitespace and
    writes "\n\n" around each <p> element where this writes it at each p tag, so runs of blank
    lines differ, and `clean_text` turns both into the same lines and paragraphs (tests compare
    the two on generated markup). Plain `str` scans: a regex over the markup cost more.
    """
    if markup.count("<") != sum(markup.count(tag) for tag, _ in _SIMPLE_TAGS):
        return None  # some "<" starts another tag (each allowed tag holds exactly one "<")
    if any(ch in markup for ch in _ODD_CHARS) or (not markup.isascii() and _SURROGATE.search(markup)):
        return None
    for tag, br in _SIMPLE_TAGS:
        markup = markup.replace(tag, br)
    return markup


def normalise_whitespace(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Runs of two or more, and single odd spaces, become one space; a lone " " is left alone, so
    # ordinary prose is not rewritten space by space. None of these characters is a line break,
    # so one pass over the whole text equals one per line.
    if any(odd in text for odd in _ODD_SPACES):  # a substring test is far cheaper than `sub`
        text = _ODD_SPACES_RE.sub(" ", text)
    return "\n".join([ln.strip() for ln in text.split("\n")])


_SENTENCE_END = tuple(".!?:;”\"’')]…")
_QUOTE_START = tuple("“\"‘'")


def _paragraphs(text: str) -> list[str]:
    """Lines become paragraphs; a line that breaks mid-sentence is joined to the next one."""
    out: list[str] = []
    buf = ""
    for line in text.split("\n"):
        if not line:
            if buf:
                out.append(buf)
                buf = ""
            continue
        if buf and not buf.endswith(_SENTENCE_END) and (line[:1].islower() or line.startswith(_QUOTE_START)):
            buf = f"{buf} {line}"
        else:
            if buf:
                out.append(buf)
            buf = line
    if buf:
        out.append(buf)
    return out


def _is_title(par: str) -> bool:
    """A headline: short, one line, and not ending like a sentence (a "!" or "?" headline is fine)."""
    words = par.split()
    return (
        2 <= len(words) <= 30
        and len(par) <= 250
        and not par.endswith((".", ",", ";", ":"))
        and not (_BYLINE_RE.match(par))
    )


def clean_text(raw: str, title: str | None = None, *, take_title: bool = True, infer_date: bool = True) -> CleanDoc:
    """Clean a plain-text or HTML article. The first paragraph is the title when it reads like one.

    `infer_date=False` skips reading a date from the words, for entries whose feed already dates
    them (it is a fifth of the cost of preparing an entry).
    """
    text = raw
    if looks_like_html(raw):
        simple = _simple_markup_text(raw)
        text = html_to_text(raw) if simple is None else simple
    text = normalise_whitespace(text)
    kept = [ln for ln in text.split("\n") if not (ln and _BOILERPLATE_RE.match(ln))]
    pars: list[str] = []
    bylines: list[str] = []
    for p in _paragraphs("\n".join(kept)):
        (bylines if _BYLINE_RE.match(p) else pars).append(p)
    if take_title and title is None and len(pars) > 1 and _is_title(pars[0]):
        title = pars.pop(0)
    body = "\n\n".join(pars)
    published = infer_published(body, bylines) if infer_date else None
    return CleanDoc(
        title=title.strip() if title else None, text=body, published=published, published_inferred=published is not None
    )
