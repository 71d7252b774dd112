"""The command core: `/news` text + who asked → a `Result`, the same for every adapter.

`handle` never raises. A malformed command gets a usage reply; an unexpected failure (a bug, the
database gone) becomes an error result that is logged and counted, so one bad command never takes
an adapter's event loop down with it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.chat.messages import CommandHandler, Context, Result, Usage
from bot.commands.figures_store import refresh_figures
from bot.commands.handlers import HANDLERS, Deps
from bot.commands.parser import Command, parse, usage_for
from bot.runtime.metrics import BAD_INPUT, COMMAND_ERRORS, COMMAND_LATENCY, COMMANDS
from bot.store.search.query import QueryError

log = logging.getLogger(__name__)

TIMEOUT_S = 20.0

__all__ = ["Deps", "handle", "make_handler"]


def error_result(problem: str) -> Result:
    return Result(kind="error", ok=False, title="Something went wrong", text=problem)


async def handle(text: str, ctx: Context, deps: Deps) -> Result:
    """Answer one command; never raises (except cancellation, which belongs to the caller)."""
    started = time.perf_counter()
    name = "invalid"
    try:
        parsed = parse(text if isinstance(text, str) else "")
        if isinstance(parsed, Usage):
            BAD_INPUT.labels("command").inc()
            result = parsed.to_result()
        else:
            name = parsed.name
            result = await asyncio.wait_for(_dispatch(parsed, ctx, deps), TIMEOUT_S)
    except TimeoutError:
        log.warning("command timed out: %r", text[:200])
        COMMAND_ERRORS.inc()
        result = error_result(f"That took longer than {TIMEOUT_S:.0f} s; try a narrower query.")
    except Exception:
        log.exception("command failed: %r (platform=%s channel=%s)", text[:200] if isinstance(text, str) else text,
                      ctx.platform, ctx.channel_id)
        COMMAND_ERRORS.inc()
        result = error_result("The command failed on our side; it has been logged. Try again in a moment.")
    COMMANDS.labels(name, "ok" if result.ok else result.kind).inc()
    COMMAND_LATENCY.labels(name).observe(time.perf_counter() - started)
    return result


async def _dispatch(cmd: Command, ctx: Context, deps: Deps) -> Result:
    await refresh_figures(deps)  # figures tracked from chat, by this process or another
    try:
        return await HANDLERS[cmd.name](cmd, ctx, deps)
    except QueryError as exc:  # a filter value that means nothing: the user's to fix
        BAD_INPUT.labels("command").inc()
        return usage_for(cmd.name, str(exc)).to_result()


def make_handler(deps: Deps) -> CommandHandler:
    """The `CommandHandler` adapters call: `await handler(text, ctx)`."""

    async def handler(text: str, ctx: Context) -> Result:
        return await handle(text, ctx, deps)

    return handler
