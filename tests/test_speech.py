"""A statement line reads as the newsroom wrote it: the cue as a past-tense verb, requests as requests."""

from __future__ import annotations

import pytest

from bot.chat.speech import attributed, speech_verb


@pytest.mark.parametrize(
    ("cue", "verb"),
    [
        ("urged", "urged"), ("urge", "urged"), ("urging", "urged"), ("calls on", "called on"),
        ("called on", "called on"), ("stating", "stated"), ("reiterating", "reiterated"), ("insists", "insisted"),
        ("stresses", "stressed"), ("has made it clear", "made it clear"), ("points out", "pointed out"),
        ("saying", "said"), ("said", "said"), ("wrote", "wrote"), ("adding", "added"), ("replies", "replied"),
        (":", "said"), (None, "said"), ("", "said"), ("According to", "according to"),
    ],
)
def test_cue_becomes_a_past_tense_verb(cue: str | None, verb: str) -> None:
    assert speech_verb(cue) == verb


def test_request_reads_as_the_speakers_request() -> None:
    assert attributed("Rutte", "direct", "spend more on air defence", "urged") == "Rutte urged: “spend more on air defence”"
    assert attributed("Rutte", "reported", "Zelensky to accept the deal", "urging") == (
        "Rutte (urged): Zelensky to accept the deal"
    )
    assert attributed("Rutte", "reported", "talks went well", "according to") == "According to Rutte: talks went well"
    assert attributed("Rutte", "direct", "no", None) == "Rutte said: “no”"
