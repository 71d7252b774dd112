"""A token-level cue tagger, for measurement: for each word of an article outside quotations, the
probability that an annotated Cue span of PolNeAR holds it ("said", "told", "according", "urged",
"believes", "plans").

The same word is a cue in one sentence and not in the next, so each word is judged from its
context: the word itself, its suffix, the two words either side, what follows it ("that", "to",
a quotation mark, a comma), whether a name or pronoun stands a few words before it (a
speaker-like subject), where it stands in its sentence and whether the lexicon's cue scan covers
it. A logistic model (AdaGrad, pure Python) weighs those features; only words that train's Cue
spans use at least `TAG_MIN_COUNT` times, in `TAG_MIN_RATIO` of their uses, are judged.
`benchmarks/cue_tagger_cv.py` measures it on train held out by folds; the extractor does not use it.
"""

from __future__ import annotations

import difflib
import json
import math
import random
import re
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.statements.rules import _Doc

Article = tuple[str, object, list[dict[str, object]]]  # cleaned text, published date, gold (as train_attribution.load_split)
PRUNE = 0.01  # weights smaller than this are dropped

_TOKEN = re.compile(r"[A-Za-z][A-Za-z’'\-]*|[“”\"‘:,;.!?—–()]")
_PRONOUN = frozenset({"he", "she", "they", "we", "i", "you", "it", "who"})
_QUOTES = frozenset({"“", "”", '"', "‘"})


def tokens(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """The words and marks of `text[start:end]`, each (start, end, lower-cased form)."""
    return [(m.start(), m.end(), m.group(0).lower()) for m in _TOKEN.finditer(text, start, end)]


def _shape(tok: str) -> str:
    return "Q" if tok in _QUOTES else tok


def token_feats(text: str, toks: list[tuple[int, int, str]], i: int, lexicon: bool) -> list[str]:
    """Features of the word `toks[i]` within its sentence's tokens."""
    s, _, w = toks[i]
    p1 = _shape(toks[i - 1][2]) if i >= 1 else "<s>"
    p2 = _shape(toks[i - 2][2]) if i >= 2 else "<s>"
    n1 = _shape(toks[i + 1][2]) if i + 1 < len(toks) else "</s>"
    n2 = _shape(toks[i + 2][2]) if i + 2 < len(toks) else "</s>"
    subj = "none"
    for j in range(i - 1, max(-1, i - 5), -1):
        t = toks[j]
        word = text[t[0] : t[1]]
        if t[2] in _PRONOUN:
            subj = "pron"
            break
        if word[:1].isupper() and j > 0:
            subj = "cap"
            break
        if t[2] in (",", ";", ":", "(", ")", "—", "–"):
            break
    left = len(toks) - i - 1
    pos = "first" if i == 0 else "end" if left <= 3 else "mid"
    f = [
        "bias",
        f"w={w}",
        f"s3={w[-3:]}",
        f"s2={w[-2:]}",
        f"p1={p1}",
        f"p2={p2}",
        f"n1={n1}",
        f"n2={n2}",
        f"p1|w={p1}|{w}",
        f"w|n1={w}|{n1}",
        f"n1|n2={n1}|{n2}",
        f"subj={subj}",
        f"subj|w={subj}|{w}",
        f"pos={pos}",
        f"pos|w={pos}|{w}",
    ]
    if text[s : s + 1].isupper():
        f.append("cap")
    if lexicon:
        f.append("lex")
        f.append(f"lex|n1={n1}")
    return f


def probability(feats: list[str], weights: dict[str, float]) -> float:
    z = sum(weights.get(f, 0.0) for f in feats)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def candidates(doc: _Doc, words: frozenset[str]) -> list[tuple[int, int, str, list[str]]]:
    """Every word of the article outside quotations that `words` holds, with its features:
    (start, end, lower-cased word, features)."""
    from bot.statements.rules import _in_quote

    text = doc.text
    cue_starts = doc.cue_starts
    cues = doc.cues
    out: list[tuple[int, int, str, list[str]]] = []
    for s_start, s_end in doc.sentences:
        toks = tokens(text, s_start, s_end)
        for i, (s, e, w) in enumerate(toks):
            if w not in words or _in_quote(doc, s):
                continue
            k = bisect_right(cue_starts, s) - 1
            lex = k >= 0 and cues[k].end > s
            out.append((s, e, w, token_feats(text, toks, i, lex)))
    return out



TagExample = tuple[str, list[str], int]  # word, features, 1 when it is part of an annotated Cue


def gold_cue_spans(corpus: Path, split: str, texts: list[str]) -> list[list[tuple[int, int]]]:
    """Each article's annotated Cue spans as offsets into its cleaned text (`texts`, in the
    split's order): the raw offsets carried over the text's matching blocks."""
    rows = [json.loads(x) for x in (corpus / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    out: list[list[tuple[int, int]]] = []
    for r, clean in zip(rows, texts, strict=True):
        raw = (corpus / split / f"{r['name']}.txt").read_text(encoding="utf-8", errors="replace")
        ann = (corpus / split / f"{r['name']}.ann").read_text(encoding="utf-8", errors="replace")
        raw_spans = []
        for line in ann.splitlines():
            parts = line.split("\t")
            if line.startswith("T") and len(parts) > 2 and parts[1].startswith("Cue "):
                rng = parts[1].split(" ")[1:]
                try:
                    raw_spans.append((int(rng[0]), int(rng[-1])))
                except ValueError:
                    continue
        if raw == clean:
            out.append(raw_spans)
            continue
        blocks = difflib.SequenceMatcher(None, raw, clean, autojunk=False).get_matching_blocks()
        spans = []
        for s, e in raw_spans:
            for a, b, n in blocks:
                if a <= s and e <= a + n:
                    spans.append((s - a + b, e - a + b))
                    break
        out.append(spans)
    return out


TAG_MIN_COUNT = 2  # the tagger judges words labelled a cue this often in train ...
TAG_MIN_RATIO = 0.02  # ... and in this share of their uses at least


def cue_words(articles: list[Article], cues: list[list[tuple[int, int]]]) -> frozenset[str]:
    """Every word that an annotated Cue span holds."""
    return frozenset(w for (t, _, _), cs in zip(articles, cues, strict=True) for s, e in cs
                     for _, _, w in tokens(t, s, e) if w[:1].isalpha())


def tag_examples(doc: _Doc, cues: list[tuple[int, int]], words: frozenset[str]) -> list[TagExample]:
    """Every candidate word of an article (one `words` holds, outside quotations), labelled 1 when
    an annotated Cue span covers it."""
    starts = sorted(cues)
    out: list[TagExample] = []
    for s, e, w, feats in candidates(doc, words):
        k = bisect_right(starts, (s, 1 << 30)) - 1
        y = any(cs < e and s < ce for cs, ce in starts[max(0, k - 3) : k + 1])
        out.append((w, feats, int(y)))
    return out


def tag_vocabulary(examples: list[TagExample], min_count: int, min_ratio: float = 0.0) -> frozenset[str]:
    """Words labelled a cue at least `min_count` times, and in at least `min_ratio` of their uses."""
    pos: Counter[str] = Counter()
    tot: Counter[str] = Counter()
    for w, _, y in examples:
        tot[w] += 1
        pos[w] += y
    return frozenset(w for w, c in pos.items() if c >= min_count and c / tot[w] >= min_ratio)


def train_tagger(examples: list[TagExample], epochs: int, l2: float, rate: float, seed: int) -> dict[str, float]:
    """Logistic regression with AdaGrad on the candidate words' features."""
    w: dict[str, float] = {}
    g2: dict[str, float] = {}
    rng = random.Random(seed)
    order = list(range(len(examples)))
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            _, feats, y = examples[i]
            d = probability(feats, w) - y
            for f in feats:
                gr = d + l2 * w.get(f, 0.0)
                g2[f] = g2.get(f, 0.0) + gr * gr
                w[f] = w.get(f, 0.0) - rate * gr / math.sqrt(g2[f] + 1e-8)
    return {f: round(v, 3) for f, v in sorted(w.items()) if abs(v) >= PRUNE}
