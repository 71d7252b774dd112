"""The console adapter: `/news` commands typed on stdin, replies, alerts and digests on stdout.

What `make run` serves with no chat token, and what `newsbot ask` prints through. Translation
only: the text rendering itself is `bot.chat.plaintext.render_text` (pure, shared with the CLI).

stdin is read on a daemon thread: a blocking `readline` in the default executor would keep the
process alive at shutdown, and `connect_read_pipe` refuses regular files and /dev/null.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from bot.chat.messages import CommandHandler, Context, PostReceipt, Result
from bot.chat.plaintext import render_text
from bot.chat.ports import PlatformSettings

log = logging.getLogger(__name__)


class ConsoleAdapter:
    platform = "console"

    def __init__(
        self,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        *,
        channel_id: str = "console",
        on_eof: Callable[[], None] | None = None,
        banner: bool = True,
    ) -> None:
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.channel_id = channel_id
        self.on_eof = on_eof
        self.banner = banner
        self._posted: dict[tuple[str, str], PostReceipt] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()

    # ------------------------------------------------------------ output

    def write(self, text: str) -> None:
        try:
            self.stdout.write(text if text.endswith("\n") else text + "\n")
            self.stdout.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:  # stdout closed: nobody to tell
            log.debug("console: cannot write: %s", exc)

    # ------------------------------------------------------------ Adapter

    async def start(self, handle: CommandHandler) -> None:
        loop = asyncio.get_running_loop()

        def reader() -> None:
            try:
                for line in self.stdin:
                    loop.call_soon_threadsafe(self._lines.put_nowait, line)
            except (OSError, ValueError) as exc:
                log.debug("console: stdin closed: %s", exc)
            with contextlib.suppress(RuntimeError):  # loop already closed at exit
                loop.call_soon_threadsafe(self._lines.put_nowait, None)

        threading.Thread(target=reader, name="console-stdin", daemon=True).start()
        self._task = asyncio.create_task(self._serve(handle), name="console-adapter")
        if self.banner:
            self.write("newsbot console: type a /news subcommand (`help`, `search irreversible`, `quotes rutte`)")

    async def _serve(self, handle: CommandHandler) -> None:
        ctx = Context(platform="console", channel_id=self.channel_id, user_id="console", is_admin=True,
                      channel_name="console")
        while True:
            line = await self._lines.get()
            if line is None:
                if self.on_eof is not None:
                    self.on_eof()
                return
            if not line.strip():
                continue
            result = await handle(line.strip(), ctx)
            self.write(render_text(result))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def post(self, channel_id: str, result: Result, *, idempotency_key: str) -> PostReceipt:
        receipt = PostReceipt(message_id=f"console-{next(self._ids)}")
        label = "ALERT" if result.kind == "alert" else result.kind.upper()
        self.write(f"[{label} → {channel_id}]\n{render_text(result)}")
        self._posted[(channel_id, idempotency_key)] = receipt
        return receipt

    async def find_posted(self, channel_id: str, idempotency_key: str) -> PostReceipt | None:
        # A terminal keeps no history across restarts; within one run we remember.
        return self._posted.get((channel_id, idempotency_key))


def create(settings: PlatformSettings, **kwargs: Any) -> ConsoleAdapter:
    """stdin/stdout/on_eof may be passed by the app (tests run it on pipes)."""
    return ConsoleAdapter(**kwargs)
