"""The registry: `/news` subcommand name → its handler (one module per subcommand).

Each handler is an async function Command + Context + Deps → Result; they read the archive and
write subscriptions and chat feeds, and know nothing of any platform. Lists are paged (`page:N`,
with the next page's command in `Result.page`), never cut.
"""

from __future__ import annotations

from bot.commands.complete import complete_cmd
from bot.commands.deps import Deps, Handler
from bot.commands.digest import digest_cmd
from bot.commands.feeds import feeds_cmd
from bot.commands.figure import figure_cmd
from bot.commands.help import help_cmd
from bot.commands.home import home_cmd
from bot.commands.quotes import quotes_cmd
from bot.commands.search import search_cmd
from bot.commands.status import status_cmd
from bot.commands.story import story_cmd
from bot.commands.subscribe import subscribe_cmd, unsubscribe_cmd
from bot.commands.track import track_cmd, untrack_cmd

HANDLERS: dict[str, Handler] = {
    "search": search_cmd,
    "quotes": quotes_cmd,
    "figure": figure_cmd,
    "digest": digest_cmd,
    "subscribe": subscribe_cmd,
    "unsubscribe": unsubscribe_cmd,
    "feeds": feeds_cmd,
    "status": status_cmd,
    "story": story_cmd,
    "track": track_cmd,
    "untrack": untrack_cmd,
    "home": home_cmd,
    "help": help_cmd,
    "complete": complete_cmd,
}

__all__ = ["HANDLERS", "Deps", "Handler"]
