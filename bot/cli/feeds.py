"""`newsbot feeds …` (the feed list, OPML in and out, health) and `newsbot ingest --once`."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import typer

from bot.cli.base import Failure, echo_json, opened, run_async, runtime


def _worker_id() -> str:
    return f"cli-{socket.gethostname()}-{os.getpid()}"


def register(app: typer.Typer) -> None:
    feeds_app = typer.Typer(no_args_is_help=True, help="The feed list: add, remove, list, OPML import/export.")
    app.add_typer(feeds_app, name="feeds")

    @feeds_app.command("add")
    def feeds_add(
        url: str = typer.Argument(..., help="Feed URL (http or https)."),
        topic: list[str] = typer.Option([], "--topic", "-t", help="Topic for every article of this feed (repeatable)."),
        discover: bool = typer.Option(
            False, "--discover", help="Fetch the URL first; if it is an HTML page advertising a feed, add that feed."
        ),
    ) -> None:
        """Add a feed; its current items are stored on the first poll without alerting channels."""
        from bot.ingest.feeds import FeedError, FeedSpec, add_feed

        rt = runtime()
        if discover:
            url = run_async(lambda: _discover(url, rt))

        async def go() -> bool:
            async with opened(rt) as (_, sessions), sessions.begin() as session:
                _, created = await add_feed(
                    session, FeedSpec(url, topics=tuple(topic)), source="cli", allow_private=rt.settings.allow_private_feeds
                )
                return created

        try:
            created = run_async(go)
        except FeedError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"{'added' if created else 'already present (updated)'}: {url}")

    @feeds_app.command("remove")
    def feeds_remove(url: str = typer.Argument(..., help="The feed's URL, or its id as `feeds list` shows it.")) -> None:
        """Remove a feed (its articles stay in the archive)."""
        from bot.commands.feeds import MAX_ID, feed_id
        from bot.ingest.feeds import remove_feed
        from bot.text.urls import feed_url_ok

        fid = feed_id(url)
        if fid == 0:
            raise typer.BadParameter(f"a feed id is a number from 1 to {MAX_ID}", param_hint="URL")
        if fid is None and not feed_url_ok(url.strip()):
            raise typer.BadParameter("not a feed URL or id", param_hint="URL")
        rt = runtime()

        async def go() -> bool:
            async with opened(rt) as (_, sessions), sessions.begin() as session:
                if fid is not None:
                    from bot.store.models import Feed

                    feed = await session.get(Feed, fid)
                    if feed is None:
                        return False
                    await session.delete(feed)
                    return True
                return await remove_feed(session, url)

        if not run_async(go):
            raise Failure(f"no such feed: {url}")
        typer.echo(f"removed: {url}")

    @feeds_app.command("list")
    def feeds_list(as_json: bool = typer.Option(False, "--json", help="One JSON object per feed.")) -> None:
        """Every feed with its health; failing feeds first."""
        from bot.ingest.health import feed_health

        rt = runtime()

        async def go() -> Any:
            async with opened(rt) as (_, sessions), sessions() as session:
                return await feed_health(session)

        rows = run_async(go)
        if as_json:
            for h in rows:
                echo_json(h.as_dict())
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(rows)} feeds")
        for col in ("state", "feed", "fails", "last success", "next check", "last error"):
            table.add_column(col, overflow="fold")
        for h in rows:
            table.add_row(
                h.state,
                h.url if not h.title else f"{h.title}\n{h.url}",
                str(h.consecutive_failures),
                h.last_success_at.strftime("%Y-%m-%d %H:%M") if h.last_success_at else "–",
                h.next_check_at.strftime("%Y-%m-%d %H:%M") if h.next_check_at else "–",
                h.last_error or "",
            )
        Console(width=200).print(table)

    @feeds_app.command("import")
    def feeds_import(file: Path = typer.Argument(..., help="An OPML file.")) -> None:
        """Add every feed of an OPML file (folders and categories become topics)."""
        from bot.ingest.feeds import add_feeds
        from bot.ingest.opml import OpmlError, parse_opml

        try:
            specs = parse_opml(file.read_bytes())
        except FileNotFoundError:
            raise Failure(f"file not found: {file}") from None
        except OpmlError as exc:
            raise Failure(f"{file}: {exc}") from None
        rt = runtime()

        async def go() -> tuple[int, int, list[str]]:
            async with opened(rt) as (_, sessions), sessions.begin() as session:
                return await add_feeds(session, specs, source="opml", allow_private=rt.settings.allow_private_feeds)

        added, existing, refused = run_async(go)
        for line in refused:
            typer.echo(f"refused: {line}", err=True)
        typer.echo(f"imported: added={added} already_present={existing} refused={len(refused)}")
        if refused:
            raise Failure(f"{len(refused)} feeds refused (the others were imported)")

    @feeds_app.command("export")
    def feeds_export() -> None:
        """The feed list as OPML on stdout."""
        from bot.ingest.feeds import list_feeds
        from bot.ingest.opml import render_opml

        rt = runtime()

        async def go() -> list[tuple[str, str | None, list[str]]]:
            async with opened(rt) as (_, sessions), sessions() as session:
                return [(f.url, f.title, f.topics.split()) for f in await list_feeds(session, include_disabled=False)]

        typer.echo(render_opml(run_async(go)), nl=False)

    @app.command()
    def ingest(
        once: bool = typer.Option(False, "--once", help="Run one poll cycle and exit."),
        as_json: bool = typer.Option(False, "--json", help="Print the cycle's stats as JSON."),
        all_feeds: bool = typer.Option(False, "--all", help="Poll every enabled feed, due or not."),
    ) -> None:
        """One poll cycle over all due feeds; exits 0 even when some feeds fail."""
        if not once:
            raise typer.BadParameter("use --once (the continuous ingester runs inside `newsbot run`)")
        from bot.ingest.service import IngestService

        rt = runtime()

        async def go() -> dict[str, Any]:
            async with opened(rt) as (_, sessions):
                service = IngestService(sessions, rt.config, rt.settings, _worker_id())
                try:
                    return (await service.run_cycle(ignore_schedule=all_feeds)).as_dict()
                finally:
                    await service.aclose()

        stats = run_async(go)
        if as_json:
            echo_json(stats)
            return
        typer.echo(
            f"fetched={stats['fetched']} not_modified={stats['not_modified']} new={stats['new']} "
            f"updated={stats['updated']} failed={stats['failed']} ({stats['duration_s']:.1f} s)"
        )
        for f in stats["failures"]:
            typer.echo(f"  failed: {f['url']}: {f['reason']}")


async def _discover(url: str, rt: Any) -> str:
    """The feed to add for `url`: itself, or the feed an HTML page advertises."""
    from bot.ingest.parse import ParsedFeed, read_feed
    from bot.ingest.service import make_fetcher

    fetcher = make_fetcher(rt.config, rt.settings)
    try:
        got = await fetcher.get(url)
    finally:
        await fetcher.aclose()
    if got.error:
        raise Failure(f"{url}: {got.error}")
    parsed = read_feed(got.body, got.url, got.content_type)
    if isinstance(parsed, ParsedFeed) and parsed.error:
        if parsed.advertised:
            typer.echo(f"{url} is an HTML page; using the feed it advertises: {parsed.advertised[0]}")
            return parsed.advertised[0]
        raise Failure(f"{url}: {parsed.error}")
    return url
