"""`/news track` and `/news untrack` (admins): follow a new public figure without editing the config.

The archive already holds statements by people nobody tracked (`figure: false`, the speaker as
the article wrote it), so a newly tracked name counts at once: its past statements are marked as
a figure's and `quotes NAME` lists them. A name that matches no stored speaker gets did-you-mean
suggestions from the speakers already seen. The config's figures stay the defaults: they are
neither copied nor removable from chat.
"""

from __future__ import annotations

from rapidfuzz import fuzz, process
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive.figures import row_data
from bot.chat.messages import Context, Item, Result, Section
from bot.commands.common import clip
from bot.commands.deps import Deps
from bot.commands.figures_store import refresh_figures
from bot.commands.parser import Command, usage_for
from bot.store.models import FigureRow, StatementRow

GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}
SPEAKER_SCAN = 5000  # distinct speakers looked at for did-you-mean
NAME_MAX = 200


def _admins_only(ctx: Context, name: str) -> Result | None:
    if ctx.is_admin:
        return None
    return Result(kind=name, ok=False, title="Admins only", text=f"Only admins can {name} figures.")


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in (value or "").split(",") if p.strip()))


async def speakers_like(session: AsyncSession, written: str, limit: int = 3) -> tuple[str, ...]:
    """Stored speakers whose name looks like `written` (a typo, a missing first name), best first."""
    seen = list(
        (await session.execute(
            select(StatementRow.speaker).where(StatementRow.speaker.is_not(None)).group_by(StatementRow.speaker)
            .order_by(func.count().desc()).limit(SPEAKER_SCAN)
        )).scalars()
    )
    found = process.extract(written, [s for s in seen if s], scorer=fuzz.WRatio, limit=limit, score_cutoff=80)
    return tuple(name for name, _score, _ in found if name != written)


async def _count(session: AsyncSession, names: tuple[str, ...]) -> int:
    return int((await session.execute(select(func.count()).where(StatementRow.speaker.in_(names)))).scalar() or 0)


async def track_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    denied = _admins_only(ctx, "track")
    if denied:
        return denied
    name = " ".join(cmd.text.split())
    if len(name) < 3 or len(name) > NAME_MAX:
        return usage_for("track", f"a name of 3 to {NAME_MAX} characters").to_result()
    aliases = tuple(a for a in _list(cmd.options.get("alias") or cmd.options.get("aliases")) if a != name)
    titles = _list(cmd.options.get("title"))
    gender_opt = (cmd.options.get("gender") or "").strip().lower()
    if gender_opt and gender_opt not in GENDERS:
        return usage_for("track", "gender: is m or f").to_result()
    await refresh_figures(deps)
    configured = {f.name for f in deps.config.figure_list()}
    already = deps.figures.resolve(name, deps.now().date())
    if already.figure is not None and already.via in ("name", "alias") and already.figure.name in configured:
        return Result(kind="track", ok=False, title="Already tracked",
                      text=f"{already.figure.name} is tracked by the config file; change it there.")
    names = (name, *aliases)
    async with deps.sessions.begin() as s:
        await s.execute(delete(FigureRow).where(FigureRow.name == name))  # re-tracking replaces the entry
        s.add(FigureRow(name=name, aliases=row_data(aliases, titles), gender=GENDERS.get(gender_opt)))
        await s.execute(update(StatementRow).where(StatementRow.speaker.in_(names)).values(figure=True))
        past = await _count(s, names)
        hints = () if past else await speakers_like(s, name)
    await refresh_figures(deps)
    lines = [f"{past} past statement{'s' if past != 1 else ''} by {name} in the archive now count"
             + (f": `quotes {name}`." if past else ".")]
    if hints:
        lines.append(f"No statements under that name yet. Did you mean {', '.join(hints)}? (`untrack {name}`, then "
                     "track the name as articles write it, or add it as alias:)")
    fields = tuple(p for p in (("Also written", ", ".join(aliases)) if aliases else None,
                               ("Title", ", ".join(titles)) if titles else None) if p)
    return Result(kind="track", title=f"Tracking {name}", ephemeral=False, text="\n".join(lines),
                  sections=(Section(items=(Item(title=name, fields=fields),)),) if fields else (),
                  suggestions=hints)


async def untrack_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    denied = _admins_only(ctx, "untrack")
    if denied:
        return denied
    written = " ".join(cmd.text.split())
    await refresh_figures(deps)
    res = deps.figures.resolve(written, deps.now().date())
    name = res.figure.name if res.figure is not None and res.via in ("name", "alias") else written
    if name in {f.name for f in deps.config.figure_list()}:
        return Result(kind="untrack", ok=False, title="Tracked by the config file",
                      text=f"{name} is one of the config file's figures: remove it under `figures:` there.")
    async with deps.sessions.begin() as s:
        row = (await s.execute(select(FigureRow).where(FigureRow.name == name))).scalar_one_or_none()
        if row is None:
            hint = f" Did you mean {res.suggestions[0]}?" if res.suggestions else ""
            return Result(kind="untrack", ok=False, title="Not tracked",
                          text=f"No figure tracked from chat is called “{clip(written, 60)}”.{hint}",
                          suggestions=res.suggestions)
        names = (row.name, *((row.aliases or {}).get("aliases") or ()))
        await s.delete(row)
        await s.execute(update(StatementRow).where(StatementRow.speaker.in_(names)).values(figure=False))
    await refresh_figures(deps)
    return Result(kind="untrack", title=f"No longer tracking {name}", ephemeral=False,
                  text="Its statements stay in the archive, as any speaker's do.")
