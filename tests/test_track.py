"""`/news track` and `untrack`: a person the archive already quotes counts at once; admins only;
config figures stay the defaults; did-you-mean against the speakers already seen."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.archive.articles import ArticleIn, store_article
from bot.archive.hooks import after_store
from bot.chat.plaintext import render_text
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.store.models import StatementRow
from tests.test_commands import CONSOLE, SLACK_USER, deps, seeded_pg, seeded_sqlite, seeded_url

__all__ = ["deps", "seeded_pg", "seeded_sqlite", "seeded_url"]  # fixtures shared with test_commands

MICHAL = ('Estonian Prime Minister Kristen Michal said the alliance must "stand firm on the eastern flank this winter," '
          'speaking in Tallinn. "We will not bargain over our neighbours," Michal added.')


async def _store_michal(deps: Deps) -> None:
    async with deps.sessions.begin() as s:
        stored = await store_article(s, ArticleIn(
            text=MICHAL, title="Michal on the flank", guid="test:michal", url="https://example.org/michal", outlet="ERR",
            published_at=datetime(2025, 6, 3, 9, 0, tzinfo=UTC)))
        await after_store(s, stored, deps.config)


async def _figure_flags(deps: Deps) -> set[bool]:
    async with deps.sessions() as s:
        return set((await s.execute(select(StatementRow.figure).where(StatementRow.speaker == "Kristen Michal"))).scalars())


async def test_track_counts_past_statements_at_once(deps: Deps) -> None:
    await _store_michal(deps)
    assert await _figure_flags(deps) == {False}  # stored as written, untracked
    before = await handle("quotes michal", CONSOLE, deps)
    assert not before.ok

    denied = await handle("track Kristen Michal", SLACK_USER, deps)
    assert not denied.ok and "admins" in (denied.text or "").lower()

    r = await handle('track Kristen Michal alias:Michal title:Prime Minister of Estonia gender:m', CONSOLE, deps)
    text = render_text(r)
    assert r.ok and "past statements by Kristen Michal in the archive now count" in text, text
    assert not text.startswith("0 ")
    assert await _figure_flags(deps) == {True}

    quotes = await handle("quotes michal", CONSOLE, deps)
    shown = render_text(quotes)
    assert quotes.title == "Quotes: Kristen Michal" and "bargain over our neighbours" in shown, shown
    fig = await handle("figure the prime minister of estonia", CONSOLE, deps)
    assert fig.ok and fig.title == "Figure: Kristen Michal", render_text(fig)
    assert ("Statements", "0") not in fig.sections[0].items[0].fields

    # a subscription by the new figure's alias resolves to it
    sub = await handle("subscribe michal", CONSOLE, deps)
    assert sub.ok and "Kristen Michal: alerts" in render_text(sub)

    gone = await handle("untrack michal", CONSOLE, deps)
    assert gone.ok, render_text(gone)
    assert await _figure_flags(deps) == {False}
    assert not (await handle("figure michal", CONSOLE, deps)).ok


async def test_track_suggests_speakers_already_seen_and_keeps_config_figures(deps: Deps) -> None:
    await _store_michal(deps)
    typo = await handle("track Kristin Michall", CONSOLE, deps)
    assert typo.ok and "Kristen Michal" in typo.suggestions, render_text(typo)
    assert "Did you mean Kristen Michal" in (typo.text or "")

    config = await handle("untrack rutte", CONSOLE, deps)
    assert not config.ok and "config file" in (config.text or "")
    again = await handle("track Mark Rutte", CONSOLE, deps)
    assert not again.ok and "config file" in (again.text or "")
    unknown = await handle("untrack Nobody Atall", CONSOLE, deps)
    assert not unknown.ok and unknown.title == "Not tracked"
