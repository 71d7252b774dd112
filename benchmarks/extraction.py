"""Benchmark of the statement extractor: quality on the labelled set and speed.

Run: `.venv/bin/python benchmarks/extraction.py [-v] [--no-polnear]`

PolNeAR (real news, outside the repository at ../shared/polnear): `benchmarks/polnear.py` prints
score.py's figures for dev and train and the alert precision/recall gated by confidence.

Quality: every labelled case (the five seeds and the hand-written cases in
`tests/data/statements_cases.yaml`) is extracted and matched against its gold statements with
`bot.statements.scoring.score`: a prediction matches a gold statement of the same kind when their
token-overlap F1 is >= 0.5, one-to-one, best overlap first. Printed per split:
- quote precision / recall / F1 (direct statements),
- speaker accuracy over matched statements (direct and reported),
- reported-speech recall (and precision).
"heldout" cases were written after the extractor was tuned, "heldout2" after the fixes that the
first held-out run prompted, "heldout3" (wire-copy attribution patterns) before the fixes it
prompted and "heldout4" after them, so their first scores are the honest estimate. First runs:
heldout3 quote F1 1.000 / speaker 0.868 / reported R 0.789; heldout4 1.000 / 0.944 / 0.900.

Speed: words per second of extraction over the whole labelled text, and, for comparison, the time
feedparser takes to parse an RSS document carrying the same text (the ratio says whether
extraction would be the bottleneck of ingest).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.statements import Gazetteer, extract_with  # noqa: E402
from bot.statements.figures import Figure, Title  # noqa: E402
from bot.statements.scoring import Gold, Scores, score  # noqa: E402

DATA = ROOT / "tests" / "data"
CONFIG = ROOT / "config" / "newsbot.yaml"
TARGET_QUOTE_F1 = 0.95
TARGET_SPEAKER_ACCURACY = 0.93


@dataclass(frozen=True)
class Case:
    """One labelled text: id, split ("seed", "dev" or "heldout"), publication date, gold."""

    id: str
    split: str
    text: str
    published: date | None
    gold: tuple[Gold, ...]


def load_figures(path: Path = CONFIG) -> list[Figure]:
    """Tracked figures from the config; the project's loader when it is importable."""
    try:
        from bot.config import load_figures as project_loader

        return list(project_loader(path))
    except Exception:  # noqa: BLE001 - the config module is optional here; fall back to plain YAML
        return figures_from_yaml(path)


def figures_from_yaml(path: Path = CONFIG) -> list[Figure]:
    """Parse the `figures:` section of a newsbot YAML into `Figure`s (no validation)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: list[Figure] = []
    for f in raw.get("figures", []):
        titles = tuple(
            Title(t["title"], _date(t.get("since")), _date(t.get("until"))) for t in f.get("titles", [])
        )
        out.append(Figure(f["name"], tuple(f.get("aliases", [])), titles, f.get("gender")))
    return out


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _gold(items: list[dict[str, Any]]) -> tuple[Gold, ...]:
    return tuple(Gold(i["kind"], i.get("speaker"), i["text"]) for i in items)


def load_cases() -> list[Case]:
    """Seeds (gold in statements_seeds.jsonl, text from seeds/) and the hand-written cases."""
    cases: list[Case] = []
    for line in (DATA / "statements_seeds.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            text = (ROOT / rec["source"]).read_text(encoding="utf-8")
            cases.append(Case(rec["id"], "seed", text, _date(rec.get("published")), _gold(rec["statements"])))
    raw = yaml.safe_load((DATA / "statements_cases.yaml").read_text(encoding="utf-8"))
    for rec in raw["cases"]:
        cases.append(
            Case(rec["id"], rec["split"], rec["text"], _date(rec.get("published")), _gold(rec["statements"]))
        )
    return cases


def evaluate(cases: list[Case], gazetteer: Gazetteer) -> dict[str, Scores]:
    """Scores per split plus "all"."""
    out: dict[str, Scores] = {"all": Scores()}
    for case in cases:
        s = score(extract_with(case.text, gazetteer, case.published), case.gold, case.id)
        out.setdefault(case.split, Scores()).add(s)
        out["all"].add(s)
    return out


def speed(cases: list[Case], gazetteer: Gazetteer, seconds: float = 2.0) -> dict[str, float]:
    """Extraction words/second, and feedparser's time for an RSS document of the same text."""
    import feedparser

    texts = [c.text for c in cases]
    words = sum(len(t.split()) for t in texts)
    dated = [(t, c.published) for t, c in zip(texts, cases, strict=True)]

    def extract_all() -> None:
        for t, d in dated:
            extract_with(t, gazetteer, d)

    extract_s = _best_time(extract_all, seconds)
    plain, html = _rss(texts, html=False), _rss(texts, html=True)
    plain_s = _best_time(lambda: feedparser.parse(plain), seconds / 2)
    html_s = _best_time(lambda: feedparser.parse(html), seconds / 2)
    return {
        "words": words,
        "extract_seconds": extract_s,
        "words_per_second": words / extract_s,
        "feedparser_seconds": plain_s,
        "feedparser_html_seconds": html_s,
        "extract_to_feedparser": extract_s / plain_s,
        "extract_to_feedparser_html": extract_s / html_s,
    }


def _rss(texts: list[str], html: bool) -> str:
    """An RSS document carrying `texts` as item descriptions: plain text, or HTML paragraphs as
    most feeds send them (feedparser then also sanitises the markup)."""

    def body(t: str) -> str:
        if not html:
            return escape(t)
        return escape("".join(f"<p>{escape(p)}</p>" for p in t.split("\n") if p.strip()))

    items = "".join(
        f"<item><title>Case {i}</title><link>https://example.org/{i}</link>"
        f"<description>{body(t)}</description><pubDate>Mon, 09 Jun 2025 10:00:00 GMT</pubDate></item>"
        for i, t in enumerate(texts)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'


def _best_time(fn: Callable[[], object], seconds: float) -> float:
    """Fastest of repeated runs: the machine is shared, and the minimum is the least noisy figure."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        t0 = time.process_time()  # CPU time: other processes on a shared machine do not count
        fn()
        best = min(best, time.process_time() - t0)
        if time.perf_counter() > deadline:
            return best


def report(scores: dict[str, Scores]) -> str:
    lines = [
        f"{'split':8} {'quote P':>8} {'quote R':>8} {'quote F1':>8} {'speaker':>8} "
        f"{'rep. R':>8} {'rep. P':>8} {'n':>5}"
    ]
    for name in ("seed", "dev", "heldout", "heldout2", "heldout3", "heldout4", "all"):
        s = scores.get(name)
        if s is None:
            continue
        n = sum(s.tp.values()) + sum(s.fn.values())
        lines.append(
            f"{name:8} {s.precision():8.3f} {s.recall():8.3f} {s.f1():8.3f} {s.speaker_accuracy():8.3f} "
            f"{s.recall('reported'):8.3f} {s.precision('reported'):8.3f} {n:5d}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    figures = load_figures()
    gazetteer = Gazetteer.build(figures)
    cases = load_cases()
    scores = evaluate(cases, gazetteer)
    print(f"labelled cases: {len(cases)}  (match: same kind and token-overlap F1 >= 0.5)")
    print(report(scores))
    if "-v" in argv:
        for miss in scores["all"].misses:
            print("  ", miss)
    for label, subset in (("all cases", cases), ("seed articles", [c for c in cases if c.split == "seed"])):
        sp = speed(subset, gazetteer)
        print(
            f"speed ({label}): {sp['words_per_second']:,.0f} words/s over {sp['words']:,} words "
            f"({sp['extract_seconds'] * 1000:.2f} ms CPU); feedparser on the same text as RSS: "
            f"{sp['feedparser_seconds'] * 1000:.2f} ms plain / {sp['feedparser_html_seconds'] * 1000:.2f} ms "
            f"HTML paragraphs (extraction/parse = {sp['extract_to_feedparser']:.2f} / "
            f"{sp['extract_to_feedparser_html']:.2f})"
        )
    from benchmarks.polnear import report as polnear_report  # noqa: PLC0415
    from bot.statements.alerts import ALERT_THRESHOLD, ALERT_THRESHOLD_REPORTED  # noqa: PLC0415

    if "--no-polnear" not in argv:
        for line in polnear_report(threshold=(ALERT_THRESHOLD, ALERT_THRESHOLD_REPORTED)):
            print(line)
    a = scores["all"]
    ok = a.f1() >= TARGET_QUOTE_F1 and a.speaker_accuracy() >= TARGET_SPEAKER_ACCURACY
    print(f"targets (quote F1 >= {TARGET_QUOTE_F1}, speaker >= {TARGET_SPEAKER_ACCURACY}): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
