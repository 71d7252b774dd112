"""The fast entry preparation gives exactly what the plain versions gave.

Each fast function in the parse workers (cleaning, topic tagging, content hash, MinHash shingles)
is compared with a straightforward reference written out here: the code as it was before it was
made cheaper. Stored content hashes and signatures stay comparable only if the outputs are equal,
and search, stories and statement extraction all read the cleaned text.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from bot.text import clean
from bot.text.clean import _BLOCK_TAGS, _BOILERPLATE_RE, _BYLINE_RE, _DROP_TAGS, _is_title, clean_text
from bot.text.content_hash import content_hash
from bot.text.dates import infer_published
from bot.text.minhash import shingles, words
from bot.text.topics import IGNORECASE_EXTRAS, tag_topics
from tests.feedfarm import farm_items

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
TOPICS = {
    "nato": ["NATO", "North Atlantic Treaty Organization", "North Atlantic Alliance", "Rutte", "Article 5"],
    "ukraine": ["Ukraine", "Ukrainian", "Ukrainians", "Kyiv", "Zelensky", "Zelenskyy", "Odesa"],
    "trump": ["Trump", "White House", "Vance", "MAGA"],
    "odd": ["U.S.", "5G", "  spaced", "Zürich", "K-pop"],
}


# --------------------------------------------------------------------------- references


def ref_html_to_text(markup: str) -> str:
    tree = LexborHTMLParser(markup)
    for tag in _DROP_TAGS:
        for node in tree.css(tag):
            node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ""
    for tag in _BLOCK_TAGS:
        for node in root.css(tag):
            if tag == "br":
                node.replace_with("\n")
            else:
                node.insert_before("\n\n")
                node.insert_after("\n\n")
    return html.unescape(root.text(separator="", strip=False))


def ref_clean_text(raw: str, title: str | None = None, *, take_title: bool = True, infer_date: bool = True) -> tuple:
    head = raw[:2000].lower()
    is_html = bool(re.search(r"<(?:html|body|head|p|div|br|hr|ul|ol|li|dl|dd|dt|table|tr|td|th|img|em|strong|b|i|u|blockquote|pre"
                             r"|section|article|header|footer|figure|figcaption|span|a|h[1-6]|script|style|iframe)[\s>/]", head))
    text = ref_html_to_text(raw) if is_html else raw
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(re.sub(r"[ \t\u00a0\u2009\u202f\u200b]+", " ", ln).strip() for ln in text.split("\n"))
    kept = [ln for ln in text.split("\n") if not (ln.strip() and _BOILERPLATE_RE.match(ln.strip()))]
    pars: list[str] = []
    buf = ""
    for line in "\n".join(kept).split("\n"):
        if not line:
            if buf:
                pars.append(buf)
                buf = ""
            continue
        if buf and not re.search(r"[.!?:;”\"’')\]…]$", buf) and (line[:1].islower() or line[:1] in "“\"‘'"):
            buf = f"{buf} {line}"
        else:
            if buf:
                pars.append(buf)
            buf = line
    if buf:
        pars.append(buf)
    bylines = [p for p in pars if _BYLINE_RE.match(p)]
    pars = [p for p in pars if not _BYLINE_RE.match(p)]
    if take_title and title is None and len(pars) > 1 and _is_title(pars[0]):
        title = pars.pop(0)
    body = "\n\n".join(pars)
    published = infer_published(body, bylines) if infer_date else None
    return (title.strip() if title else None, body, published, published is not None)


def ref_tag_topics(text: str, topics: dict[str, list[str]]) -> list[str]:
    found = set()
    for name, keywords in topics.items():
        kws = [k for k in keywords if k]
        if not kws:
            continue
        alts = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in sorted(kws, key=len, reverse=True))
        if re.search(rf"(?<![\w-])(?:{alts})(?![\w-])", text, re.IGNORECASE):
            found.add(name)
    return sorted(found)


def ref_content_hash(title: str | None, text: str) -> str:
    norm = re.sub(r"\s+", " ", f"{title or ''}\n{text}").strip().casefold()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def ref_shingles(title: str | None, text: str) -> list[str]:
    ws = re.findall(r"\w+", f"{title or ''} {text}".casefold())[:1500]
    if len(ws) < 3:
        return ws
    return [" ".join(ws[i : i + 3]) for i in range(len(ws) - 2)]


def as_tuple(doc: clean.CleanDoc) -> tuple:
    return (doc.title, doc.text, doc.published, doc.published_inferred)


# --------------------------------------------------------------------------- generated input

PIECES = [
    "<p>", "</p>", "<br>", "<br/>", "<br />", "<P>", "<div>", "</div>", "<b>", "</b>", "<a href='/x'>", "</a>",
    "<script>x=1</script>", "<form><select><option>o</option></select></form>", "<li>", "<h2>", "&amp;",
    "&lt;p&gt;", "&nbsp;", "\n", "\n\n", "\r\n", "\r", " ", "  ", "\t", "\u00a0", "\u2009", "\u200b", "\ufeff",
    "\x00", "Share", "Advertisement", "Read more", "By Jane Doe", "Filed under: x", "said", "NATO", "Natoli",
    "nato’s", "pro-NATO", "White\nHouse", "Kyiv.", "\u0130", "ſ", "K", "İstanbul", "“", "”", "’", "'", "\"",
    "—", "é", "e\u0301", "_", "²", "½", "Ⅻ", "ß", "2025-06-01", "June 3, 2025", ".", ",", ":", "?", "a", "The",
    "word", "lower", "Upper", "<", ">", "<p class=x>", "</br>", "<!-- c -->", "<svg><p>in</p></svg>",
]
markup = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=40).map("".join)
titles = st.none() | st.sampled_from(["", "T", "Héllo  Wörld", " x "])


@settings(max_examples=400, deadline=None)
@given(markup, titles, st.booleans())
def test_clean_text_equals_reference(raw: str, title: str | None, take_title: bool) -> None:
    got = as_tuple(clean_text(raw, title, take_title=take_title))
    assert got == ref_clean_text(raw, title, take_title=take_title)


@settings(max_examples=300, deadline=None)
@given(markup)
def test_html_to_text_equals_reference(raw: str) -> None:
    assert clean.html_to_text(raw) == ref_html_to_text(raw)


def test_clean_text_on_feeds_and_seeds() -> None:
    """Real-looking input: farm items (simple <p> markup), the seed articles, pages with furniture."""
    docs = [it.body for it in farm_items("eq", 30)] + [p.read_text() for p in SEEDS]
    docs += [f"<html><body><nav>Menu</nav><article>{d}</article><aside>Ads</aside></body></html>" for d in docs[:5]]
    docs += [d.replace("\n", "<br>") for d in docs[-10:]]
    assert docs
    for d in docs:
        assert as_tuple(clean_text(d)) == ref_clean_text(d)
        assert as_tuple(clean_text(d, take_title=False, infer_date=False)) == ref_clean_text(d, take_title=False, infer_date=False)


text_pieces = st.sampled_from(PIECES + ["Rutte", "rutte", "RUTTE", "North  Atlantic\tAlliance", "Article 5", "article 50",
                                        "Zelenskyy", "zelenskyy's", "maga-", "-Vance", "U.S.", "u.s.a", "5g", "ZÜRICH", "k-POP"])
texts = st.lists(text_pieces | st.text(max_size=5), max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_tag_topics_equals_reference(text: str) -> None:
    assert tag_topics(text, TOPICS) == ref_tag_topics(text, TOPICS)


def test_tag_topics_examples() -> None:
    assert tag_topics("Natoli scored; pro-NATO rally", TOPICS) == []
    assert tag_topics("NATO's summit", TOPICS) == ["nato"]
    assert tag_topics("the north atlantic\nalliance met", TOPICS) == ["nato"]
    assert tag_topics("Kyİv", {"u": ["Kyiv"]}) == ref_tag_topics("Kyİv", {"u": ["Kyiv"]}) == ["u"]
    assert tag_topics("Odeſa", TOPICS) == ["ukraine"]
    assert tag_topics("x", TOPICS, extra=["mine"]) == ["mine"]


def test_ignorecase_extras_are_all_there_are() -> None:
    """The substring shortcut in tag_topics is sound only if these are the only characters that
    `re.IGNORECASE` matches to an ASCII letter without lower-casing to it, and U+0130 the only
    one whose lower case is longer (offsets in the lower-cased text would shift)."""
    chars = "".join(chr(c) for c in range(128, 0x110000) if not 0xD800 <= c < 0xE000)
    matching = set(re.findall("(?i)[a-z]", chars))
    odd = {c for c in matching if not (len(c.lower()) == 1 and c.lower().isascii())}
    assert odd <= set(IGNORECASE_EXTRAS)
    assert [c for c in chars if len(c.lower()) != 1] == ["\u0130"]


@settings(max_examples=500, deadline=None)
@given(titles, texts)
def test_content_hash_and_shingles_equal_reference(title: str | None, text: str) -> None:
    assert content_hash(title, text) == ref_content_hash(title, text)
    assert shingles(title, text) == ref_shingles(title, text)


def test_split_whitespace_is_regex_whitespace() -> None:
    """content_hash relies on `str.split()` splitting on exactly what `\\s` matches."""
    chars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert set(re.findall(r"\s", chars)) == {c for c in chars if c.isspace()}


def test_words_on_every_character() -> None:
    chars = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c < 0xE000)
    sample = " ".join(chars[i : i + 7] for i in range(0, len(chars), 7))
    assert words(sample) == re.findall(r"\w+", sample)
    for p in SEEDS:
        t = p.read_text().casefold()
        assert words(t) == re.findall(r"\w+", t)


# --------------------------------------------------------------------------- canonical URLs


def ref_canonical_url(url: str, base: str | None = None) -> str | None:
    from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

    from bot.text.urls import is_tracking_param

    url = (url or "").strip()
    if not url:
        return None
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == {"http": 80, "https": 443}[scheme] else f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)], doseq=True
    )
    path = re.sub(r"/{2,}", "/", parts.path) or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except Exception as exc:  # the same error, or the same value
        return type(exc)


URL_PARTS = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "javascript:", "//", "", " https://", "mailto:"]),
    st.sampled_from(["a.example", "news.example", "A.Example", "h-1.example.", "[::1]", "user@h.example", "h.example:8080",
                     "h.example:443", "h.example:80", "h.example:bad", "[bad", "é.example", "", "..", "a..b"]),
    st.sampled_from(["", "/", "//", "/a//b", "/a%20b", "/a;p", "/é", "/x/../y", "/s/1", "/A_b-c.html", "/a+b", "/a b"]),
    st.sampled_from(["", "?", "?a=1", "?utm_source=rss", "?a=b=c", "?&&", "?a", "?=v", "?a+b=c", "?a%20=1",
                     "?fbclid=1&x=2", "?UTM_Campaign=y&id=7", "?x=1&x=2", "?a=1;b=2", "?é=1"]),
    st.sampled_from(["", "#f", "#"]),
)
BASES = st.sampled_from([None, "", "https://o.example/feed", "http://o.example", "https://[::1]/", "https://[bad/",
                         "https://ö.example/", "feed", "https://o.example/a/b/", "ftp://o.example/"])


@settings(max_examples=1500, deadline=None)
@given(URL_PARTS, BASES)
def test_canonical_url_equals_reference(parts: tuple[str, ...], base: str | None) -> None:
    from bot.text.urls import canonical_url

    url = "".join(parts)
    assert outcome(canonical_url, url, base) == outcome(ref_canonical_url, url, base)
