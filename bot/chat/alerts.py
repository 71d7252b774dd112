"""An alert's outbox payload → the `Result` every adapter renders (pure).

"Rutte: “…” — Reuters, 14:02, also reported by 3 outlets", linking the article. The payload is
what `bot/archive/statement_store.py` wrote with the statement, so rendering needs no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.chat.messages import Action, Item, Result, Section
from bot.chat.speech import attributed
from bot.statements.figures import Figure

QUOTE_LIMIT = 600


def short_name(speaker: str, figures: Sequence[Figure] = ()) -> str:
    """How a newsroom writes the speaker in a headline: the shortest alias that ends the name ("Rutte")."""
    for fig in figures:
        if fig.name == speaker:
            tails = [a for a in fig.aliases if speaker.endswith(" " + a)]
            return min(tails, key=len) if tails else speaker
    return speaker


def short_time(published: Any) -> str | None:
    if not published:
        return None
    try:
        dt = datetime.fromisoformat(str(published))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    if (dt.hour, dt.minute) == (0, 0):
        return f"{dt:%Y-%m-%d}"
    today = datetime.now(UTC).date()
    return f"{dt:%H:%M}" if dt.date() == today else f"{dt:%Y-%m-%d %H:%M}"


def _int(value: Any, default: int = 1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def alert_line(payload: dict[str, Any], figures: Sequence[Figure] = ()) -> str:
    speaker = short_name(str(payload.get("speaker") or "Someone"), figures)
    text = " ".join(str(payload.get("text") or "").split())
    if len(text) > QUOTE_LIMIT:
        text = text[:QUOTE_LIMIT].rsplit(" ", 1)[0] + "…"
    kind = str(payload.get("kind") or "direct")
    if payload.get("cue") is not None:
        said = attributed(speaker, kind, text, str(payload["cue"]))
    else:
        said = f"{speaker}: “{text}”" if kind == "direct" else f"{speaker} (paraphrased): {text}"
    where = [p for p in (payload.get("outlet") or None, short_time(payload.get("published"))) if p]
    others = _int(payload.get("outlets")) - 1
    if others > 0:
        where.append(f"also reported by {others} outlet{'s' if others > 1 else ''}")
    return said + (" — " + ", ".join(str(w) for w in where) if where else "") + how_named(payload)


# How the speaker was found when the statement itself does not name them (the model's labels).
INDIRECT = {
    "pronoun": "speaker named earlier, referred to as he/she",
    "description": "speaker named earlier, referred to by a description",
    "running": "speaker of the quotes before it",
    "nearby": "speaker named in a nearby sentence",
}


def how_named(payload: dict[str, Any]) -> str:
    """A note when the speaker was resolved by coreference, so an editor checks the article."""
    note = INDIRECT.get(str(payload.get("attributed") or ""))
    return f" ({note})" if note else ""


def alert_actions(payload: dict[str, Any], figures: Sequence[Figure] = ()) -> tuple[Action, ...]:
    """Mute this speaker in this channel, every outlet of the story, follow the speaker (pure)."""
    speaker = str(payload.get("speaker") or "")
    short = short_name(speaker, figures) if speaker else ""
    actions = []
    if speaker:
        actions.append(Action(f"Mute {short} here", f"unsubscribe figure:{speaker}"))
    if payload.get("article_id"):
        actions.append(Action("All outlets", f"story a{payload['article_id']}"))
    if speaker:
        actions.append(Action(f"Quotes by {short}", f"quotes {speaker}"))
    return tuple(actions)


def render_alert(payload: dict[str, Any], figures: Sequence[Figure] = ()) -> Result:
    line = alert_line(payload, figures)
    title = payload.get("title") or None
    url = payload.get("url") or None
    topics = payload.get("topics") or []
    item = Item(
        title=str(title) if title else "(untitled article)",
        url=str(url) if url else None,
        meta=" · ".join(str(t) for t in topics) or None,
        actions=alert_actions(payload, figures),
    )
    return Result(
        kind="alert",
        title=line,
        sections=(Section(items=(item,)),),
        ephemeral=False,
        link=str(url) if url else None,
        footer=payload.get("corroboration") or None,
        mention=str(payload["mention"]) if payload.get("mention") else None,
    )
