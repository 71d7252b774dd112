"""`newsbot ask` (one `/news` subcommand through the command core) and `newsbot digest --print`.

`ask` answers exactly as the console adapter would (same core, same plain-text rendering);
`--json` prints the adapter-neutral `Result.to_dict()`. Exit status: 0 when answered, 2 for a
usage reply (malformed command), 1 when the command failed.
"""

from __future__ import annotations

import sys

import typer

from bot.chat.messages import Result
from bot.cli.base import echo_json, opened, run_async, runtime


def _show(result: object, as_json: bool) -> Result:
    """Print a command's result as the console would render it, or as JSON."""
    from bot.chat.plaintext import render_text

    assert isinstance(result, Result)
    if as_json:
        echo_json(result.to_dict())
    else:
        typer.echo(render_text(result), nl=False)
    return result


def register(app: typer.Typer) -> None:
    @app.command()
    def ask(
        words: list[str] = typer.Argument(..., help='The subcommand and its arguments, e.g. "quotes rutte since:7d".'),
        as_json: bool = typer.Option(False, "--json", help="Print the adapter-neutral result as JSON."),
        channel: str = typer.Option("console", "--channel", help="Console channel id the command runs in."),
    ) -> None:
        """Run one /news subcommand (a leading /news is accepted) and print the reply."""
        from bot.chat.messages import Context
        from bot.commands.core import handle
        from bot.commands.handlers import Deps

        rt = runtime()
        line = " ".join(words)

        async def go() -> object:
            async with opened(rt) as (_, sessions):
                deps = Deps.build(sessions, rt.config, allow_private_feeds=rt.settings.allow_private_feeds)
                ctx = Context(platform="console", channel_id=channel, user_id="console", is_admin=True,
                              channel_name=channel)
                return await handle(line, ctx, deps)

        result = _show(run_async(go), as_json)
        if result.kind == "usage":
            typer.echo("newsbot: " + "; ".join((result.text or "usage error").splitlines()), err=True)
            sys.exit(2)
        if result.kind == "error":
            typer.echo(f"newsbot: {result.text}", err=True)
            sys.exit(1)

    @app.command("digest")
    def digest(
        print_: bool = typer.Option(False, "--print", help="Print the digest (nothing is posted)."),
        topic: list[str] = typer.Option([], "--topic", "-t", help="Topic (repeatable); default: the configured topics."),
        since: str = typer.Option("24h", "--since", help="Window start: 24h, 7d, 2w or a date."),
        as_json: bool = typer.Option(False, "--json", help="Print the adapter-neutral result as JSON."),
    ) -> None:
        """Build the digest a channel would get and print it."""
        from bot.chat.digests import build_digest
        from bot.store.models import utcnow
        from bot.store.search.query import QueryError, parse_time

        if not print_:
            raise typer.BadParameter("only --print is supported: digests are posted by `newsbot run` on schedule",
                                     param_hint="--print")
        rt = runtime()
        unknown = [t for t in topic if t.lower() not in rt.config.topics]
        if unknown:
            raise typer.BadParameter(f"unknown topic {unknown[0]!r} (topics: {', '.join(rt.config.topics)})",
                                     param_hint="--topic")
        now = utcnow()
        try:
            start = parse_time(since, now)
        except QueryError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None

        async def go() -> object:
            async with opened(rt) as (_, sessions), sessions() as s:
                topics = [t.lower() for t in topic] or list(rt.config.topics)
                return await build_digest(s, rt.config, topics=topics, since=start, until=now)

        _show(run_async(go), as_json)
