"""Reported speech on train held out fold by fold: what the shipped operating point reaches on
articles its cue model never saw, and the best recall any cut reaches at each precision.

Run: `.venv/bin/python benchmarks/extraction_cv.py [--folds 5]`   (about a minute per fold)

Reads PolNeAR train (outside the repository, `../shared/polnear` or `$POLNEAR_DIR`; skipped with
one line when absent). Each fold is judged by a cue model fit on the other folds (the training
script's own `train_cue`, same hyper-parameters) with the shipped speaker ranker and vocabulary,
every reported statement kept down to a cue probability of 0.05 with no floor; each is right or
wrong by score.py's rules (`reported_records`). Printed: the shipped cue threshold and floor
applied to these held-out statements (the rules' own reported speech kept at any confidence, as
`extract.py` does), the rules' speech alone, and the frontier: for each precision, the cue
threshold, learned-speech floor and a floor on the rules' speech too that find the most gold.
The speaker ranker is trained on all of train, so these figures still flatter it a little.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "tools"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bot.archive.statement_store import gazetteer_for  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.statements.weights import shipped  # noqa: E402

CORPUS = Path(os.environ.get("POLNEAR_DIR", ROOT.parent / "shared" / "polnear"))
Record = tuple[float, float, bool, bool, set[tuple[int, int]]]  # cue prob, confidence, learned, right, gold hit


def held_out_records(folds: int) -> tuple[list[Record], int]:
    """Every reported statement of train, each fold under a cue model fit without it."""
    import train_attribution as ta  # tools/: the training script's own functions

    gazetteer = gazetteer_for(load_config())
    w = shipped()
    docs = ta.load_split(CORPUS, "train")
    by_doc = [ta.cue_examples([d], gazetteer, w.vocab) for d in docs]
    bounds = [len(docs) * f // folds for f in range(folds + 1)]
    records: list[Record] = []
    n_gold = 0
    for f in range(folds):
        lo, hi = bounds[f], bounds[f + 1]
        rest = [e for d in by_doc[:lo] + by_doc[hi:] for e in d]
        cue = ta.train_cue(rest, 8, 1e-4, 0.1, 18)
        held = replace(w, cue=cue, cue_threshold=0.05, reported_floor=0.0)
        recs, n = ta.reported_records(docs[lo:hi], gazetteer, held)
        records.extend((r[0], r[1], r[2], r[3], {(a + lo, i) for a, i in r[4]}) for r in recs)
        n_gold += n
    return records, n_gold


def reach(records: list[Record], n: int, cue_t: float, floor: float, rule_floor: float) -> tuple[float, float, int]:
    """Precision, recall and statements kept at one cut."""
    kept = [r for r in records if (not r[2] and r[1] >= rule_floor) or (r[2] and r[0] >= cue_t and r[1] >= floor)]
    good = sum(r[3] for r in kept)
    hit: set[tuple[int, int]] = set().union(*(r[4] for r in kept)) if kept else set()
    return (good / len(kept) if kept else 0.0), (len(hit) / n if n else 0.0), len(kept)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    if not (CORPUS / "train.jsonl").is_file():
        print(f"PolNeAR not found at {CORPUS}: skipped")
        return
    w = shipped()
    records, n = held_out_records(max(2, args.folds))
    print(f"train held out in {args.folds} folds: {n} gold reported spans, {len(records)} reported statements")
    for label, cut in (("shipped cut", (w.cue_threshold, w.reported_floor, 0.0)), ("rules' speech alone", (2.0, 2.0, 0.0))):
        p, r, k = reach(records, n, *cut)
        print(f"{label:22s} cue>={cut[0]:.2f} floor>={cut[1]:.2f}: P {p:.3f} R {r:.3f} ({k} kept)")
    cuts = [(tc / 20, fl / 20, rf / 10) for rf in range(6) for tc in range(6, 20) for fl in range(16) if fl / 20 >= rf / 10]
    scored = [(c, reach(records, n, *c)) for c in cuts]
    for target in (0.80, 0.82, 0.84, 0.85, 0.86, 0.88):
        ok = [s for s in scored if s[1][0] >= target]
        if ok:
            (tc, fl, rf), (p, r, k) = max(ok, key=lambda s: s[1][1])
            print(f"P>={target:.2f}: cue>={tc:.2f} floor>={fl:.2f} rules' floor>={rf:.1f}: P {p:.3f} R {r:.3f} ({k} kept)")


if __name__ == "__main__":
    main(sys.argv[1:])
