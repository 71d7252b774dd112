"""A statement written as a newsroom reads it: who, how they said it, what (pure).

The extractor stores the speech cue as the article wrote it ("urged", "stressing", "according to",
"has made it clear"). Putting it in the line makes a request read as a request by the speaker
("Rutte urged: “…”") and not as his own claim ("Rutte: “…”").
"""

from __future__ import annotations

IRREGULAR = {
    "say": "said", "says": "said", "saying": "said", "tell": "told", "tells": "told", "telling": "told",
    "write": "wrote", "writes": "wrote", "writing": "wrote", "speak": "spoke", "speaks": "spoke",
    "speaking": "spoke", "think": "thought", "thinks": "thought", "thinking": "thought", "put": "put",
    "puts": "put", "putting": "put", "add": "added", "adding": "added", "make": "made", "makes": "made",
    "making": "made", "admit": "admitted", "admits": "admitted", "admitting": "admitted",
    "plead": "pleaded", "pleading": "pleaded", "beg": "begged", "begging": "begged",
}
PAST = {"said", "told", "wrote", "spoke", "thought", "made", "put", "led", "felt", "held", "knew", "gave", "took",
        "saw", "went", "sent", "meant", "left", "set", "read", "let"}
AUXILIARIES = ("has ", "have ", "had ", "was ", "is ", "also ")
NOT_A_VERB = {"", ":", "-", "—", "–"}
CUE_MAX = 30


def speech_verb(cue: str | None) -> str:
    """The cue as a past-tense verb phrase: "stressing" → "stressed", "calls on" → "called on".

    Unknown shapes are kept as written; nothing is ever invented beyond "said" for no cue.
    """
    phrase = " ".join((cue or "").lower().split())
    if phrase in NOT_A_VERB or len(phrase) > CUE_MAX:
        return "said"
    for aux in AUXILIARIES:
        if phrase.startswith(aux):
            phrase = phrase[len(aux):]
    if phrase.startswith("according"):
        return "according to"
    head, _, tail = phrase.partition(" ")
    past = _past(head)
    return f"{past} {tail}".strip()


def _past(word: str) -> str:
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word in PAST or word.endswith("ed") or not word.isalpha():
        return word
    if word.endswith("ing") and len(word) > 5:
        return word[:-3] + "ed"  # stating → stated, urging → urged, admitting → admitted
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "ied"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2] + "ed"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    return word + "d" if word.endswith("e") else word + "ed"


def attributed(speaker: str, kind: str, text: str, cue: str | None) -> str:
    """`Rutte urged: “…”` for a direct quote, `Rutte (urged): …` for reported speech.

    "according to" is the outlet's attribution, not a verb of the speaker: `According to Rutte: …`.
    """
    verb = speech_verb(cue)
    if verb == "according to":
        return f"According to {speaker}: “{text}”" if kind == "direct" else f"According to {speaker}: {text}"
    if kind == "direct":
        return f"{speaker} {verb}: “{text}”"
    return f"{speaker} ({verb}): {text}"
