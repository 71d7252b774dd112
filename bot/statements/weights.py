"""The shipped, learned parameters of attribution: one small JSON file read once, on first use.

The file (`attribution_weights.json`, beside this module) is written by
`tools/train_attribution.py` from PolNeAR train; its provenance (corpus, split, date, command and
the figures it reached) is written beside it in `attribution_weights.provenance.json`. Loading is
lazy so that importing the package, and so `newsbot run` start-up, costs nothing extra.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

WEIGHTS_FILE = "attribution_weights.json"


@dataclass(frozen=True)
class Weights:
    """Linear weights by feature name, one table per model; an unknown feature weighs 0."""

    speaker: dict[str, float] = field(default_factory=dict)
    cue: dict[str, float] = field(default_factory=dict)
    cue_threshold: float = 0.5
    vocab: tuple[str, ...] = ()  # cue words learned from the corpus, beyond the lexicon
    override: float = 0.0  # the ranker replaces the rules' speaker of a quotation only at this probability or above
    override_reported: float = 0.0  # the same for reported speech
    reported_floor: float = 0.0  # speech only the learned cues found is dropped below this confidence (speaker x cue probability)
    null_bar: float = 0.0  # a quotation is left without a speaker only when "nobody" has at least this probability


def parse(raw: dict[str, object]) -> Weights:
    """Weights from the JSON object the training script writes."""
    speaker = raw.get("speaker") or {}
    cue = raw.get("cue") or {}
    cue_threshold = raw.get("cue_threshold", 0.5)
    assert isinstance(speaker, dict) and isinstance(cue, dict) and isinstance(cue_threshold, (int, float))
    return Weights(
        {str(k): float(v) for k, v in speaker.items()},
        {str(k): float(v) for k, v in cue.items()},
        float(cue_threshold),
        tuple(str(v) for v in raw.get("vocab") or ()),  # type: ignore[attr-defined]
        float(raw.get("override", 0.0)),  # type: ignore[arg-type]
        float(raw.get("override_reported", 0.0)),  # type: ignore[arg-type]
        float(raw.get("reported_floor", 0.0)),  # type: ignore[arg-type]
        float(raw.get("null_bar", 0.0)),  # type: ignore[arg-type]
    )


@lru_cache(maxsize=1)
def shipped() -> Weights:
    """The weights that ship with the package (empty, so rules alone decide, if the file is missing)."""
    try:
        raw = resources.files("bot.statements").joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return Weights()
    return parse(json.loads(raw))
