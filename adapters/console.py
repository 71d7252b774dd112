"""The console adapter: `/news` commands typed on stdin, replies, alerts and digests on stdout.

What `make run` serves with no chat token, and what `newsbot ask` prints through. Translation
only: the text rendering itself is `bot.chat.plaintext.render_text` (pure, shared with the CLI).

stdin is read on a daemon thread: a blocking `readline` in the default executor would keep the
process alive at shutdown, and `connect_read_pipe` refuses regular files and /dev/null.

On a terminal it is a prompt (`news> `) with line editing and history (readline, kept in
`~/.newsbot_history`): the next prompt appears only after the reply, and an alert that arrives
while someone types is printed above a fresh prompt. On a pipe it reads lines as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot.chat.messages import CommandHandler, Context, PostReceipt, Result
from bot.chat.plaintext import render_text
from bot.chat.ports import PlatformSettings

log = logging.getLogger(__name__)

PROMPT = "news> "
HISTORY = Path("~/.newsbot_history")
HISTORY_LINES = 1000


def _readline() -> Any:
    """The readline module when this Python has one (line editing and history for `input`)."""
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return None
    return readline


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
        interactive: bool | None = None,
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
        self.interactive = interactive if interactive is not None else _isatty(self.stdin) and _isatty(self.stdout)
        self._replied = threading.Event()  # the reply to the last line is out: prompt again

    # ------------------------------------------------------------ output

    def write(self, text: str, *, end: str = "\n") -> None:
        try:
            self.stdout.write(text if text.endswith(end) else text + end)
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

        def prompter() -> None:
            history = _open_history()
            try:
                while True:
                    self._replied.clear()
                    line = input(PROMPT)
                    loop.call_soon_threadsafe(self._lines.put_nowait, line)
                    if line.strip():
                        self._replied.wait()
            except (EOFError, KeyboardInterrupt, OSError, ValueError):
                pass
            finally:
                _save_history(history)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._lines.put_nowait, None)

        if self.banner:
            self.write("newsbot console: type a /news subcommand (`help`, `digest`, `quotes rutte`); Ctrl-D quits")
        target = prompter if self.interactive else reader
        threading.Thread(target=target, name="console-stdin", daemon=True).start()
        self._task = asyncio.create_task(self._serve(handle), name="console-adapter")

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
            try:
                result = await handle(line.strip(), ctx)
                self.write(render_text(result))
            finally:
                self._replied.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def post(self, channel_id: str, result: Result, *, idempotency_key: str) -> PostReceipt:
        receipt = PostReceipt(message_id=f"console-{next(self._ids)}")
        label = "ALERT" if result.kind == "alert" else result.kind.upper()
        text = f"[{label} → {channel_id}]\n{render_text(result)}"
        if self.interactive and not self._replied.is_set():
            # above the prompt someone may be typing at, then a fresh prompt (their typing stays in readline)
            self.write("\r\x1b[K" + text + PROMPT, end="")
        else:
            self.write(text)
        self._posted[(channel_id, idempotency_key)] = receipt
        return receipt

    async def find_posted(self, channel_id: str, idempotency_key: str) -> PostReceipt | None:
        # A terminal keeps no history across restarts; within one run we remember.
        return self._posted.get((channel_id, idempotency_key))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _open_history() -> Path | None:
    readline = _readline()
    if readline is None:
        return None
    path = HISTORY.expanduser()
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(HISTORY_LINES)
    return path


def _save_history(path: Path | None) -> None:
    readline = _readline()
    if readline is not None and path is not None:
        with contextlib.suppress(OSError):
            readline.write_history_file(path)


def create(settings: PlatformSettings, **kwargs: Any) -> ConsoleAdapter:
    """stdin/stdout/on_eof may be passed by the app (tests run it on pipes)."""
    return ConsoleAdapter(**kwargs)
