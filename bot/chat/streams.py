"""A streamed article's outbox payload → the `Result` every adapter renders (pure).

compact: the headline, linked, with outlet and date on one line. full: the same plus a teaser of
the text and how the channel came to get it ("feed Reuters World"). "N outlets" when the story
was carried by more than one by the time it was posted.
"""

from __future__ import annotations

from typing import Any

from bot.chat.alerts import short_time
from bot.chat.messages import Item, Result, Section


def render_article(payload: dict[str, Any]) -> Result:
    title = str(payload.get("title") or "(untitled article)")
    url = str(payload["url"]) if payload.get("url") else None
    outlets = int(payload.get("outlets") or 1)
    meta = " · ".join(
        p for p in (
            payload.get("outlet") or None,
            short_time(payload.get("published")),
            f"{outlets} outlets" if outlets > 1 else None,
        ) if p
    )
    full = payload.get("format", "full") != "compact"
    item = Item(title=title, url=url, meta=meta or None, body=str(payload.get("teaser") or "") or None if full else None)
    return Result(
        kind="article",
        title="",
        sections=(Section(items=(item,)),),
        ephemeral=False,
        link=url,
        footer=str(payload.get("via") or "") or None if full else None,
        mention=str(payload.get("mention") or "") or None,
    )
