"""The cue tagger (`tools/cue_tagger.py`) on train held out fold by fold: how well it tells an
annotated cue word from the same word used otherwise, against the lexicon's cue scan alone.

Run: `.venv/bin/python benchmarks/cue_tagger_cv.py [--folds 5]`

Reads PolNeAR train (outside the repository, `../shared/polnear` or `$POLNEAR_DIR`). Each word of
a Cue span (mapped onto the text as `newsbot extract` cleans it) is a positive; every other
candidate word (one the training folds' cues use at least `--min-count` times, in `--min-ratio`
of its uses) a negative. Each fold is tagged by a model fit on the other folds; printed: precision
and recall of the words tagged at several thresholds, and the same for the lexicon's cues. What
the tagger does for reported speech end to end is in benchmarks/RESULTS.md (cue tagger entry).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "tools"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

CORPUS = Path(os.environ.get("POLNEAR_DIR", ROOT.parent / "shared" / "polnear"))


def main(argv: list[str]) -> None:
    import cue_tagger as ct  # tools/
    import train_attribution as ta

    from bot.archive.statement_store import gazetteer_for
    from bot.config import load_config
    from bot.statements.rules import _prepare

    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=None)
    ap.add_argument("--min-ratio", type=float, default=None)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args(argv)
    if not (CORPUS / "train.jsonl").is_file():
        print(f"PolNeAR not found at {CORPUS}: skipped")
        return
    gazetteer = gazetteer_for(load_config())
    docs = ta.load_split(CORPUS, "train")
    cues = ct.gold_cue_spans(CORPUS, "train", [d[0] for d in docs])
    cuewords = ct.cue_words(docs, cues)
    preps = [_prepare(t, gazetteer, day) for t, day, _ in docs]  # type: ignore[arg-type]
    examples = [ct.tag_examples(d, c, cuewords) for d, c in zip(preps, cues, strict=True)]
    folds = args.folds
    bounds = [len(docs) * f // folds for f in range(folds + 1)]
    out: list[tuple[float, int, bool]] = []  # prob, label, lexicon
    for f in range(folds):
        lo, hi = bounds[f], bounds[f + 1]
        rest = [e for d in examples[:lo] + examples[hi:] for e in d]
        words = ct.tag_vocabulary(rest, args.min_count or ct.TAG_MIN_COUNT, args.min_ratio if args.min_ratio is not None else ct.TAG_MIN_RATIO)
        w = ct.train_tagger([e for e in rest if e[0] in words], args.epochs, 1e-4, 0.1, 18)
        for d in examples[lo:hi]:
            for word, feats, y in d:
                if word in words:
                    out.append((ct.probability(feats, w), y, "lex" in feats))
    pos_all = sum(y for d in examples for _, _, y in d)
    print(f"{len(docs)} articles, {pos_all} cue words, {len(out)} candidate words held out, {sum(y for _, y, _ in out)} of them cues")
    lex = [(y) for _, y, lx in out if lx]
    print(f"lexicon cue words: P {sum(lex) / len(lex):.3f} R {sum(lex) / pos_all:.3f} ({len(lex)})")
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        k = [y for p, y, _ in out if p >= t]
        print(f"tagged >= {t:.1f}: P {sum(k) / max(1, len(k)):.3f} R {sum(k) / pos_all:.3f} ({len(k)})")
    for t in (0.5, 0.7):
        k = [y for p, y, lx in out if lx and p >= t]
        print(f"lexicon and tagged >= {t:.1f}: P {sum(k) / max(1, len(k)):.3f} R {sum(k) / pos_all:.3f} ({len(k)})")


if __name__ == "__main__":
    main(sys.argv[1:])
