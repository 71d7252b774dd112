"""CPU cost of statement extraction on real news, in-process: words/s and where the time goes.

Run: `.venv/bin/python benchmarks/extraction_cpu.py [--articles 300] [--profile]`

Reads the first N articles of PolNeAR train (outside the repository, `../shared/polnear` or
`$POLNEAR_DIR`; skipped with one line when absent), cleans them as `newsbot extract` does, and
times `extract_with` over all of them (process CPU time, best of three runs: score.py's words/s
includes the process start-up and the JSON output, and a loaded machine moves it by half).
With `--profile`, one more run under cProfile prints the reported-speech path's functions
(calls and cumulative seconds, inflated by the profiler alike for every version).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.archive.statement_store import gazetteer_for  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.statements import extract_with  # noqa: E402
from bot.text.clean import clean_text  # noqa: E402

CORPUS = Path(os.environ.get("POLNEAR_DIR", ROOT.parent / "shared" / "polnear"))


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    if not (CORPUS / "train.jsonl").is_file():
        print(f"PolNeAR not found at {CORPUS}: skipped")
        return
    names = [json.loads(x)["name"] for x in (CORPUS / "train.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    docs = [clean_text((CORPUS / "train" / f"{n}.txt").read_text(encoding="utf-8", errors="replace")) for n in names[: args.articles]]
    gazetteer = gazetteer_for(load_config())
    extract_with(docs[0].text, gazetteer, docs[0].published)  # loads the weights
    words = sum(len(d.text.split()) for d in docs)
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for d in docs:
            extract_with(d.text, gazetteer, d.published)
        best = min(best, time.process_time() - t)
    print(f"PolNeAR train, {len(docs)} articles: {words:,} words in {best:.2f} s CPU = {words / best:,.0f} words/s")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for d in docs:
            extract_with(d.text, gazetteer, d.published)
        prof.disable()
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(r"reported\.py|extract\.py:.*_learned_reported")


if __name__ == "__main__":
    main(sys.argv[1:])
