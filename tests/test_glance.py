"""A glance instead of a list: sparklines for a figure's last 30 days and the last day's ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.archive.articles import ArticleIn, store_article
from bot.archive.hooks import after_store
from bot.chat.plaintext import render_text
from bot.chat.spark import buckets, sparkline
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.store.models import IngestCycle
from tests.test_commands import CONSOLE, deps, seeded_pg, seeded_sqlite, seeded_url

__all__ = ["deps", "seeded_pg", "seeded_sqlite", "seeded_url"]  # fixtures shared with test_commands

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_sparkline_scales_to_the_busiest_bucket() -> None:
    assert sparkline([0, 1, 4, 2, 8, 0]) == "▁▂▅▃█▁"
    assert sparkline([0, 0]) == "▁▁" and sparkline([]) == ""
    assert sparkline([1, 100])[0] == "▂"  # any count shows above zero


def test_buckets_cover_the_span_oldest_first() -> None:
    times = [NOW - timedelta(days=29, hours=12), NOW - timedelta(hours=1), NOW, NOW + timedelta(hours=1),
             NOW - timedelta(days=31)]
    assert buckets(times, NOW, timedelta(days=30), 30) == [1] + [0] * 28 + [2]
    assert buckets([NOW - timedelta(minutes=5)], NOW, timedelta(days=1), 24, [7])[-1] == 7


async def test_figure_glance_and_status_sparkline(deps: Deps) -> None:
    deps.now = lambda: NOW
    text = ('NATO Secretary General Mark Rutte said allies "will keep the eastern flank safe every single day," '
            "speaking in Vilnius.")
    for n, outlet in enumerate(("Reuters", "Reuters", "BBC")):
        async with deps.sessions.begin() as s:
            stored = await store_article(s, ArticleIn(
                text=text.replace("every single day", f"every single day {n} times"), title=f"Rutte {n}",
                guid=f"glance:{n}", url=f"https://example.org/glance{n}", outlet=outlet,
                published_at=NOW - timedelta(days=2 + n)))
            await after_store(s, stored, deps.config)
    fig = await handle("figure rutte", CONSOLE, deps)
    fields = dict(fig.sections[0].items[0].fields)
    line = fields["Last 30 days"]
    assert line[:30].strip("▁▂▃▄▅▆▇█") == "" and len(line.split()[0]) == 30, line
    assert fields["Top outlets"].startswith("Reuters "), fields

    async with deps.sessions.begin() as s:
        for hours, new in ((30, 99), (5, 4), (1, 12)):
            s.add(IngestCycle(started_at=NOW - timedelta(hours=hours), finished_at=NOW - timedelta(hours=hours),
                              stats={"new": new, "fetched": 3}))
    status = render_text(await handle("status", CONSOLE, deps))
    assert "last 24 h: " in status and "16 new in 2 cycles" in status, status
