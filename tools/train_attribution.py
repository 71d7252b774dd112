"""Learn the attribution weights from PolNeAR train and write them into the package.

    python tools/train_attribution.py [--corpus ../shared/polnear] [--epochs 8]   (or: make train)

Reads `train.jsonl` (gold in score.py's conversion) and `train/NAME.txt`, runs the rule extractor
to get each statement's candidate speakers (`bot.statements.attribution`), labels the candidates
from the gold sources' surnames, and fits a log-linear ranker (softmax over each statement's
candidates, L2-regularised, AdaGrad) in plain Python, so training needs nothing inference does not.
Writes `bot/statements/attribution_weights.json` and, beside it, the provenance (corpus, split,
date, command, sizes and the figures reached on train and dev). The corpus text never leaves the
corpus folder: only feature weights are written.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.archive.statement_store import gazetteer_for  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.statements.attribution import Candidate, Target, rank, score  # noqa: E402
from bot.statements.extract import attribution_targets, reported_proposals, scored_reported  # noqa: E402
from bot.statements.reported import Proposal, cue_probability  # noqa: E402
from bot.statements.speakers import Gazetteer  # noqa: E402
from bot.statements.weights import Weights, shipped  # noqa: E402
from bot.text.clean import clean_text  # noqa: E402

OUT = ROOT / "bot" / "statements" / "attribution_weights.json"
PRUNE = 0.01  # weights smaller than this are dropped: they change no decision and would only add bytes
PROVENANCE = ROOT / "bot" / "statements" / "attribution_weights.provenance.json"


def fold(s: str) -> str:
    s = unicodedata.normalize("NFKD", s or "")
    return "".join(c for c in s if not unicodedata.combining(c)).replace("’", "'").casefold()


def toks(s: str) -> list[str]:
    return re.findall(r"\w+", fold(s))


def tf1(a: str, b: str) -> float:
    """Token F1, the scorer's matching measure."""
    ta, tb = toks(a), toks(b)
    common = sum((Counter(ta) & Counter(tb)).values()) if ta and tb else 0
    if not common:
        return 0.0
    p, r = common / len(ta), common / len(tb)
    return 2 * p * r / (p + r)


PRONOUNS = frozenset({"he", "she", "they", "it", "we", "i", "you", "who", "which", "that", "his", "her", "their"})
Example = tuple[list[Candidate], list[int]]  # candidates, indices of the right ones


def label(targets: list[Target], gold: list[dict[str, object]]) -> list[Example]:
    """Right candidates per statement: those naming the gold source's surname; "nobody" for a
    quotation no gold attribution holds; the anonymous mentions for a source given only as a
    description ("officials said"); statements whose gold source is a pronoun are left out
    (nothing in the gold tells which candidate it means).

    Quotations are paired with gold the way score.py pairs them: each gold quotation takes the
    best-overlapping quotation not yet taken, in gold order. (Pairing from the statements' side
    let a headline's "Carnage on the road" take the gold of the quotation it repeats, which then
    was labelled "nobody": a wrong label the ranker learned to leave speakers out from.)
    """
    direct = [k for k, t in enumerate(targets) if t.statement.kind == "direct"]
    match: dict[int, int] = {}  # target index -> gold index
    taken: set[int] = set()
    for gi, g in enumerate(gold):
        if g["kind"] != "direct":
            continue
        best, bk = 0.0, -1
        for k in direct:
            f = 0.0 if k in taken else tf1(targets[k].statement.text, str(g["text"]))
            if f > best:
                best, bk = f, k
        if best >= 0.6:
            taken.add(bk)
            match[bk] = gi
    out: list[Example] = []
    for k, t in enumerate(targets):
        st = t.statement
        if st.kind == "reported":
            best, bi = 0.0, -1
            for i, g in enumerate(gold):
                f = max(tf1(st.text, str(g["text"])), tf1(st.text, str(g.get("content") or "")))
                if f > best:
                    best, bi = f, i
            if best < 0.5:
                continue  # whether it is speech at all is the cue model's call, not the ranker's
        elif k in match:
            bi = match[k]
        else:
            pos = [j for j, c in enumerate(t.candidates) if c.speaker is None and c.how == "none"]
            if pos:
                out.append((t.candidates, pos))
            continue
        aliases = gold[bi]["aliases"]
        if not aliases:
            source = " ".join(toks(str(gold[bi].get("source") or "")))
            if not source or source in PRONOUNS:
                continue  # "he said": which named candidate it means is not in the gold
            # "officials said", "a source said": nobody named is the speaker
            pos = [j for j, c in enumerate(t.candidates) if c.speaker is None and c.how == "description"]
        else:
            al = {str(a) for a in aliases} if isinstance(aliases, list) else set()
            pos = [j for j, c in enumerate(t.candidates) if c.speaker and al & set(toks(c.speaker))]
        if pos:
            out.append((t.candidates, pos))
    return out


Article = tuple[str, object, list[dict[str, object]]]  # cleaned text, published date, gold


def load_split(corpus: Path, split: str) -> list[Article]:
    """The split's articles cleaned as `newsbot extract` cleans them, with their gold."""
    rows = [json.loads(x) for x in (corpus / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    out: list[Article] = []
    for r in rows:
        raw = (corpus / split / f"{r['name']}.txt").read_text(encoding="utf-8", errors="replace")
        doc = clean_text(raw)
        gold = list(r["gold"])
        for g in gold:
            g.setdefault("content", g.get("text"))
        out.append((doc.text, doc.published, gold))
    return out


def speaker_examples(articles: list[Article], gazetteer: Gazetteer) -> list[list[Example]]:
    """The labelled statements of each article (kept apart so a fifth can be held out)."""
    return [label(attribution_targets(text, gazetteer, day), gold) for text, day, gold in articles]  # type: ignore[arg-type]


def flat(per_article: list[list[Example]]) -> list[Example]:
    return [e for ex in per_article for e in ex]


def speaker_accuracy(articles: list[Article], gazetteer: Gazetteer, weights: Weights) -> float:
    """score.py's speaker accuracy under `weights`: each gold quotation with a named source takes
    the best-overlapping quotation not yet taken; right when a gold alias is among its speaker's words."""
    ok = n = 0
    for text, day, gold in articles:
        targets = attribution_targets(text, gazetteer, day)  # type: ignore[arg-type]
        quotes = [st for st in rank(targets, weights) if st.kind == "direct"]
        used: set[int] = set()
        for g in gold:
            if g["kind"] != "direct":
                continue
            best, bi = 0.0, -1
            for i, st in enumerate(quotes):
                f = 0.0 if i in used else tf1(st.text, str(g["text"]))
                if f > best:
                    best, bi = f, i
            if best < 0.6:
                continue
            used.add(bi)
            if g["aliases"]:
                n += 1
                ok += bool(set(toks(quotes[bi].speaker or "")) & {str(a) for a in g["aliases"]})  # type: ignore[attr-defined]
    return round(ok / n, 4) if n else 0.0


CueExample = tuple[Proposal, int]


def cue_vocabulary(corpus: Path, min_count: int, min_ratio: float) -> tuple[str, ...]:
    """Words that the train split's Cue spans use often, and that are a cue at least `min_ratio`
    of the times they are written (adverbs and function words left out)."""
    cue: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for ann in sorted((corpus / "train").glob("*.ann")):
        text = ann.with_suffix(".txt").read_text(encoding="utf-8", errors="replace")
        total.update(w.lower() for w in re.findall(r"[A-Za-z]+", text))
        for line in ann.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if line.startswith("T") and len(parts) > 2 and parts[1].startswith("Cue"):
                cue.update({w.lower() for w in re.findall(r"[A-Za-z]+", parts[2])})
    stop = {"has", "have", "had", "about", "also", "the", "a", "an", "to", "of", "in", "for", "on", "is", "was", "be"}
    return tuple(sorted(w for w, c in cue.items() if c >= min_count and c / total[w] >= min_ratio
                        and w not in stop and not w.endswith("ly") and len(w) > 2))


def cue_examples(articles: list[Article], gazetteer: Gazetteer, vocab: tuple[str, ...]) -> list[CueExample]:
    """Each proposed reported span, right (1) when it overlaps a gold attribution's text or Content."""
    out: list[CueExample] = []
    for text, day, gold in articles:
        for p in reported_proposals(text, gazetteer, day, vocab):  # type: ignore[arg-type]
            span = text[p.start : p.end]
            ok = any(tf1(span, str(g["text"])) >= 0.5 or tf1(span, str(g["content"])) >= 0.5 for g in gold)
            out.append((p, int(ok)))
    return out


def train_cue(examples: list[CueExample], epochs: int, l2: float, rate: float, seed: int, min_count: int = 1) -> dict[str, float]:
    """Logistic regression with AdaGrad on the proposals' features; a feature seen in fewer than
    `min_count` proposals keeps no weight (3 halves the weights and finds as much on the held-out
    fifth, but less on train itself, which the shipped weights are also judged on)."""
    if min_count > 1:
        seen = Counter(f for p, _ in examples for f in p.feats)
        examples = [(replace(p, feats=[f for f in p.feats if seen[f] >= min_count]), y) for p, y in examples]
    w: dict[str, float] = {}
    g2: dict[str, float] = {}
    rng = random.Random(seed)
    order = list(range(len(examples)))
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            p, y = examples[i]
            d = cue_probability(p, w) - y
            for f in p.feats:
                gr = d + l2 * w.get(f, 0.0)
                g2[f] = g2.get(f, 0.0) + gr * gr
                w[f] = w.get(f, 0.0) - rate * gr / math.sqrt(g2[f] + 1e-8)
    return {f: round(v, 3) for f, v in sorted(w.items()) if abs(v) >= PRUNE}


def cue_threshold(examples: list[CueExample], w: dict[str, float], precision: float) -> float:
    """The lowest probability cut at which the kept proposals reach `precision` on these examples."""
    scored = sorted(((cue_probability(p, w), y) for p, y in examples), reverse=True)
    best = 0.5
    good = 0
    for k, (prob, y) in enumerate(scored, 1):
        good += y
        if good / k >= precision:
            best = prob
    return round(best, 3)


def cue_figures(examples: list[CueExample], w: dict[str, float], t: float) -> dict[str, float]:
    kept = [(y) for p, y in examples if cue_probability(p, w) >= t]
    pos = sum(y for _, y in examples)
    return {"precision": round(sum(kept) / len(kept), 4) if kept else 0.0, "recall_of_proposals": round(sum(kept) / pos, 4) if pos else 0.0}


ReportedRecord = tuple[float, float, bool, bool, set[tuple[int, int]]]  # cue prob, confidence, learned, right, gold hit


def reported_records(articles: list[Article], gazetteer: Gazetteer, weights: Weights) -> tuple[list[ReportedRecord], int]:
    """Every reported statement the extractor makes under `weights` (cue threshold near 0, no
    floor), judged as score.py judges reported speech: right when it overlaps a gold attribution
    by the right source; and which gold reported spans it finds. Also the number of those spans."""
    out: list[ReportedRecord] = []
    n = 0
    for a, (text, day, gold) in enumerate(articles):
        rep = [i for i, g in enumerate(gold) if g["kind"] == "reported"]
        n += len(rep)
        for st, prior, learned in scored_reported(text, gazetteer, weights, day):  # type: ignore[arg-type]
            said = set(toks(st.speaker or ""))
            right = any((tf1(st.text, str(g["text"])) >= 0.5 or tf1(st.text, str(g["content"])) >= 0.5) and _by(g, said) for g in gold)
            hits = {(a, i) for i in rep if tf1(st.text, str(gold[i]["text"])) >= 0.5 and _by(gold[i], said)}
            out.append((prior, st.confidence or 0.0, learned, right, hits))
    return out, n


def _by(g: dict[str, object], said: set[str]) -> bool:
    """True when the speaker's words name the gold source (any speaker will do for an unnamed one)."""
    al = g["aliases"]
    return not al or bool(said & {str(x) for x in al})  # type: ignore[attr-defined]


def reported_cuts(records: list[ReportedRecord], n: int, precision: float, least_cue: float) -> tuple[float, float, dict[str, float]]:
    """The cue threshold and the confidence floor that find the most gold reported speech while
    the statements kept stay at `precision` or above; with the figures they reach. The cue
    threshold never goes below `least_cue`, the cue model's own precision point: a span is speech
    by the cue model's standard before the floor weighs its speaker too."""
    best = (-1, 0.0, max(0.5, least_cue), 0.0)
    for tc in sorted({least_cue} | {k / 20 for k in range(4, 20) if k / 20 >= least_cue}):
        for fl in [k / 20 for k in range(0, 14)]:
            kept = [r for r in records if not r[2] or (r[0] >= tc and r[1] >= fl)]
            if not kept:
                continue
            p = sum(r[3] for r in kept) / len(kept)
            hit = len(set().union(*(r[4] for r in kept)))
            if p >= precision and hit > best[0]:
                best = (hit, p, tc, fl)
    hit, p, tc, fl = best
    return tc, fl, {"precision": round(p, 4), "recall": round(max(hit, 0) / n, 4) if n else 0.0}


def train(examples: list[Example], epochs: int, l2: float, rate: float, seed: int) -> dict[str, float]:
    """Softmax ranking with AdaGrad: maximise the log of the right candidates' total probability."""
    w: dict[str, float] = {}
    g2: dict[str, float] = {}
    rng = random.Random(seed)
    order = list(range(len(examples)))
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            cands, pos = examples[i]
            p = score(cands, w)
            zp = sum(p[k] for k in pos) or 1e-12
            grad: dict[str, float] = {}
            posset = set(pos)
            for k, c in enumerate(cands):
                target = p[k] / zp if k in posset else 0.0
                d = p[k] - target
                if d == 0.0:
                    continue
                for f in c.feats:
                    grad[f] = grad.get(f, 0.0) + d
            for f, d in grad.items():
                d += l2 * w.get(f, 0.0)
                g2[f] = g2.get(f, 0.0) + d * d
                w[f] = w.get(f, 0.0) - rate * d / math.sqrt(g2[f] + 1e-8)
    return {f: round(v, 4) for f, v in sorted(w.items()) if abs(v) >= 1e-4}


def accuracy(examples: list[Example], w: dict[str, float]) -> float:
    """Share of labelled statements whose top candidate is a right one."""
    ok = 0
    for cands, pos in examples:
        p = score(cands, w)
        ok += max(range(len(cands)), key=lambda k: p[k]) in pos
    return round(ok / len(examples), 4) if examples else 0.0


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "polnear"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--override", type=float, default=0.0,
                    help="the ranker replaces the rules' speaker of a quotation at this probability or above")
    ap.add_argument("--override-reported", type=float, default=0.9,
                    help="the same for reported speech (the rules' wire-copy patterns are precise)")
    ap.add_argument("--null-bar", type=float, default=0.6,
                    help="a quotation is left without a speaker only when 'nobody' reaches this probability "
                         "(set on held-out train: more quotations keep their speaker for few more unlabelled ones)")
    ap.add_argument("--cue-min-count", type=int, default=1, help="fewest proposals a cue-model feature must occur in")
    ap.add_argument("--vocab-min-count", type=int, default=5)
    ap.add_argument("--vocab-min-ratio", type=float, default=0.3)
    ap.add_argument("--cue-precision", type=float, default=0.9,
                    help="precision on held-out train the cue model's threshold is set for")
    ap.add_argument("--reported-precision", type=float, default=0.85,
                    help="end-to-end reported-speech precision (score.py's measure) on held-out train that the "
                         "cue threshold and the confidence floor are set for")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    if not (corpus / "train.jsonl").is_file():
        sys.exit(f"no PolNeAR train split at {corpus} (expected train.jsonl and train/)")
    gazetteer = gazetteer_for(load_config())
    t0 = time.perf_counter()
    train_docs = load_split(corpus, "train")
    dev_docs = load_split(corpus, "dev") if (corpus / "dev.jsonl").is_file() else []
    # 1. the cue model, then 2. the speaker ranker over the statements that model keeps
    vocab = cue_vocabulary(corpus, args.vocab_min_count, args.vocab_min_ratio)
    # the threshold is set on a fifth of train held out from a first fit (the model fits train
    # closely, so train's own precision would flatter it), then the model is refit on all of train
    cut = len(train_docs) * 4 // 5
    held = cue_examples(train_docs[cut:], gazetteer, vocab)
    first = train_cue(cue_examples(train_docs[:cut], gazetteer, vocab), args.epochs, args.l2, args.rate, args.seed, args.cue_min_count)
    cue_t = cue_threshold(held, first, args.cue_precision)
    cue_train = cue_examples(train_docs, gazetteer, vocab)
    cue_w = train_cue(cue_train, args.epochs, args.l2, args.rate, args.seed, args.cue_min_count)
    OUT.write_text(json.dumps({"cue": cue_w, "cue_threshold": cue_t, "vocab": vocab}) + "\n", encoding="utf-8")
    shipped.cache_clear()
    per_article = speaker_examples(train_docs, gazetteer)
    train_ex = flat(per_article)
    weights = train(train_ex, args.epochs, args.l2, args.rate, args.seed)
    # the ranker fit on four fifths of train and judged on the fifth it did not see, as score.py
    # judges it: train's own figure flatters a model that fits train closely
    first_speaker = train(flat(per_article[:cut]), args.epochs, args.l2, args.rate, args.seed)
    held_speaker = speaker_accuracy(train_docs[cut:], gazetteer, Weights(
        first_speaker, cue_w, cue_t, vocab, args.override, args.override_reported, 0.0, args.null_bar))
    # 3. the cue threshold and the reported confidence floor, together, on the held-out fifth with
    # the first cue model: the most gold reported speech found at the precision asked for
    held_w = Weights(weights, first, 0.05, vocab, args.override, args.override_reported, 0.0, args.null_bar)
    records, n_rep = reported_records(train_docs[cut:], gazetteer, held_w)
    cue_t, floor, held_fig = reported_cuts(records, n_rep, args.reported_precision, cue_t)
    dev_ex = flat(speaker_examples(dev_docs, gazetteer))
    cue_dev = cue_examples(dev_docs, gazetteer, vocab)
    OUT.write_text(json.dumps({"speaker": weights, "cue": cue_w, "cue_threshold": cue_t, "vocab": vocab,
                               "override": args.override, "override_reported": args.override_reported,
                               "reported_floor": floor, "null_bar": args.null_bar},
                              indent=0, sort_keys=True) + "\n", encoding="utf-8")
    shipped.cache_clear()
    provenance = {
        "corpus": "PolNeAR v1.0.0 (networkdynamics/PolNeAR), brat annotations in score.py's conversion",
        "split": "train (840 articles); dev only for the figures below",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python tools/train_attribution.py " + " ".join(argv),
        "model": "log-linear ranker over candidate speakers (softmax per statement), AdaGrad, "
                 f"epochs={args.epochs} l2={args.l2} rate={args.rate} seed={args.seed}",
        "features": len(weights),
        "examples": {"train": len(train_ex), "dev": len(dev_ex), "cue_train": len(cue_train)},
        "candidate_accuracy": {"train": accuracy(train_ex, weights), "dev": accuracy(dev_ex, weights)},
        "speaker_accuracy_held_out_train": {"articles": len(train_docs) - cut, "fit_on": cut, "score_py_measure": held_speaker},
        "cue_model": {"features": len(cue_w), "feature_min_count": args.cue_min_count, "learned_cue_words": len(vocab), "threshold": cue_t, "train": cue_figures(cue_train, cue_w, cue_t),
                      "dev": cue_figures(cue_dev, cue_w, cue_t)},
        "override": {"direct": args.override, "reported": args.override_reported},
        "null_bar": args.null_bar,
        "reported_cuts": {"cue_threshold": cue_t, "confidence_floor": floor, "target_precision": args.reported_precision,
                          "held_out_train": held_fig},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(provenance))


if __name__ == "__main__":
    main(sys.argv[1:])
