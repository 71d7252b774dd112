"""`complete SUBCOMMAND TYPED`: what to offer while someone types an option (Discord autocomplete).

Answers with `Result.suggestions`, each a whole new value for the option: figure names for
`quotes`/`figure`, topics for `digest`, and for `subscribe`/`unsubscribe` the last word completed
(`topic:na` → `topic:nato`, `feed:reu` → `feed:#3`, a name → a figure). Reads only what is in
memory and the feeds table; fast enough for Discord's 3 seconds.
"""

from __future__ import annotations

from rapidfuzz import fuzz, process
from sqlalchemy import func, select

from bot.chat.messages import Context, Result
from bot.commands.deps import Deps
from bot.commands.figure_lookup import fold
from bot.commands.parser import Command
from bot.store.models import Feed

LIMIT = 25  # Discord shows at most 25 choices
VALUE_MAX = 100


def ranked(typed: str, choices: list[str], limit: int = LIMIT) -> list[str]:
    """Choices that start with what was typed first, then close matches (pure)."""
    key = fold(typed)
    if not key:
        return choices[:limit]
    starts = [c for c in choices if fold(c).startswith(key) or any(w.startswith(key) for w in fold(c).split())]
    fuzzy = [c for c, _s, _ in process.extract(typed, choices, scorer=fuzz.WRatio, limit=limit, score_cutoff=60)]
    return list(dict.fromkeys([*starts, *fuzzy]))[:limit]


async def _feeds(deps: Deps, typed: str) -> list[str]:
    async with deps.sessions() as s:
        q = select(Feed.id, Feed.title, Feed.url).order_by(Feed.id).limit(200)
        if typed:
            like = f"%{typed.lower()}%"
            q = q.where(func.lower(func.coalesce(Feed.title, "")).like(like) | func.lower(Feed.url).like(like))
        return [f"feed:#{fid}" for fid, _title, _url in (await s.execute(q)).all()][:LIMIT]


async def complete_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    sub, _, typed = cmd.rest.partition(" ")
    figures = [f.name for f in deps.figures.figures]
    topics = list(deps.config.topics)
    if sub in ("quotes", "figure", "untrack"):
        offered = ranked(typed, figures)
    elif sub == "digest":
        head, _, last = typed.rpartition(" ")
        offered = [f"{head} {t}".strip() for t in ranked(last, topics)]
    elif sub in ("subscribe", "unsubscribe"):
        head, _, last = typed.rpartition(" ")
        key, sep, value = last.partition(":")
        if sep and key == "topic":
            words = [f"topic:{t}" for t in ranked(value, topics)]
        elif sep and key == "feed":
            words = await _feeds(deps, value)
        elif sep and key == "figure":
            words = [f"figure:{n}" for n in ranked(value, figures)]
        else:
            words = [*ranked(last, figures), *(f"topic:{t}" for t in ranked(last, topics))]
        offered = [f"{head} {w}".strip() for w in words]
    else:
        offered = []
    return Result(kind="complete", title="", suggestions=tuple(o[:VALUE_MAX] for o in offered[:LIMIT]))
