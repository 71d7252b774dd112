"""The extracted statement: plain frozen data so it can cross threads, caches and the database."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    """One thing a person said in an article.

    `text[start:end]` of the input equals `text`, so callers can highlight or re-check the span.
    `speaker` is the canonical figure name when `figure` is true, the name as written for an
    untracked speaker, or None when nobody can be told (scare quotes, anonymous sources).
    """

    speaker: str | None
    kind: str  # "direct" | "reported"
    text: str
    start: int
    end: int
    cue: str | None
    figure: bool
    confidence: float | None = None  # the ranker's probability that `speaker` is right
    attributed: str | None = None  # how the speaker was found: "cue", "inverted", "pronoun", "running", ...

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form used by `newsbot extract --json` (see CONTRACT.md)."""
        return {
            "speaker": self.speaker,
            "kind": self.kind,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "cue": self.cue,
            "figure": self.figure,
            "confidence": self.confidence,
            "attributed": self.attributed,
        }
