"""PolNeAR real-news figures for the statement extractor, computed by the corpus's own score.py.

Used by `benchmarks/extraction.py`. The corpus lives outside the repository (`../shared/polnear`,
or `$POLNEAR_DIR`); without it this prints one line and is skipped. Nothing of the corpus is
copied: score.py runs `.venv/bin/newsbot extract --json` over the split's files and prints
quote P/R/F1, speaker accuracy, reported-speech recall/precision, alert precision/recall (every
statement naming one of the split's ten most-named sources counts) and words/s.

Alerts as the bot sends them are gated by `bot.statements.alerts.ALERT_THRESHOLD`; score.py
cannot see the gate, so the gated alert precision and recall are computed here with score.py's
own `alert_counts` on the statements at or above a confidence, and a sweep over thresholds
shows where the shipped one stands (they are chosen on dev: the best alert recall with precision >= 0.97).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("POLNEAR_DIR", ROOT.parent / "shared" / "polnear"))
SWEEP = ((0.0, 0.0), (0.5, 0.8), (0.5, 0.9), (0.7, 0.9), (0.8, 0.9), (0.8, 0.95), (0.8, 0.97), (0.9, 0.97), (0.9, 1.01))
TARGET_ALERT_PRECISION = 0.97


def scorer() -> ModuleType | None:
    """The corpus's score.py as a module, or None when the corpus is not here."""
    path = CORPUS / "score.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("polnear_score", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def gated_alerts(
    mod: ModuleType, rows: list[dict[str, Any]], preds: dict[str, list[dict[str, Any]]], t: tuple[float, float]
) -> tuple[float | None, float | None, int]:
    """Alert precision and recall, as score.py counts them, over statements whose confidence
    reaches t[0] (quotations) or t[1] (reported speech)."""
    figures = mod.tracked_figures(rows)
    alerts = good = fig_gold = hit = 0
    for r in rows:
        got = [p for p in preds.get(r["name"] + ".txt", []) if _confidence(p) >= t[0 if p.get("kind") == "direct" else 1]]
        a, ag, fg, fh = mod.alert_counts(got, r["gold"], figures)
        alerts += a
        good += ag
        fig_gold += fg
        hit += fh
    return (round(good / alerts, 3) if alerts else None, round(hit / fig_gold, 3) if fig_gold else None, alerts)


def _confidence(p: dict[str, Any]) -> float:
    c = p.get("confidence")
    return 1.0 if c is None else float(c)


def run_split(mod: ModuleType, split: str) -> dict[str, Any]:
    """score.py's metrics for a split, plus the gated alert sweep."""
    rows = [json.loads(x) for x in (CORPUS / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    texts = {r["name"]: str(CORPUS / split / f"{r['name']}.txt") for r in rows}
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        metrics, _ = mod.score(rows, texts, str(ROOT))
        preds, _ = mod.run_extract(str(ROOT), [texts[r["name"]] for r in rows])
    finally:
        os.chdir(cwd)
    metrics["gated"] = {str(t): gated_alerts(mod, rows, preds, t) for t in SWEEP}
    return dict(metrics)


def choose_threshold(gated: dict[str, tuple[float | None, float | None, int]]) -> tuple[float, float] | None:
    """The swept pair of thresholds with the best alert recall among those reaching the target precision."""
    ok = [(g[1] or 0.0, t) for t in SWEEP if (g := gated[str(t)])[0] is not None and g[0] >= TARGET_ALERT_PRECISION]
    return max(ok)[1] if ok else None


def report(splits: tuple[str, ...] = ("dev", "train"), threshold: tuple[float, float] | None = None) -> list[str]:
    """Printable lines: score.py's figures per split, then the gated alerts."""
    mod = scorer()
    if mod is None:
        return [f"PolNeAR: skipped (no corpus at {CORPUS}; set POLNEAR_DIR)"]
    lines = []
    keys = ("quotes_P", "quotes_R", "quotes_F1", "speaker_acc", "reported_R", "reported_P", "alert_P", "alert_R", "words_per_s")
    lines.append(f"PolNeAR (score.py, {CORPUS}): " + " ".join(f"{k:>11}" for k in keys))
    results = {s: run_split(mod, s) for s in splits if (CORPUS / f"{s}.jsonl").is_file()}
    for s, m in results.items():
        lines.append(f"  {s:6} " + " ".join(f"{m[k] if m[k] is not None else '-':>11}" for k in keys))
    for s, m in results.items():
        lines.append(f"  {s} alerts gated by confidence (quotation, reported) >= t:")
        lines.extend(f"    {t}: P {p} R {r} n {n}" for t, (p, r, n) in m["gated"].items())
    if "dev" in results:
        chosen = choose_threshold(results["dev"]["gated"])
        lines.append(f"  swept thresholds with the best dev alert recall at precision >= {TARGET_ALERT_PRECISION}: {chosen}"
                     f" (shipped ALERT_THRESHOLD: {threshold})")
    return lines
