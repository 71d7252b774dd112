"""Parse worker processes for the ingester: lean, started on demand, stopped between cycles.

Why not `ProcessPoolExecutor`: with the spawn start method every worker re-imports the parent's
`__main__` first. For the `newsbot` console script that is `bot.cli.main` and with it SQLAlchemy,
Alembic, pydantic, typer...: tens of MB resident before a worker has parsed a byte,
and the pool adds a resource-tracker process besides. One worker killed mid-parse breaks the
whole executor (BrokenProcessPool for every feed in flight and every later one), and its workers
inherit the tokens in the environment (benchmarks/libraries.py shows both).
A worker here is a fresh interpreter that imports `bot.ingest.parse` and nothing else (24 MB), and speaks length-prefixed pickles over its
stdin/stdout: one request, one reply, in order. It exits when its stdin closes, so a parent that
dies (even by SIGKILL) leaves no orphans behind.

The parent side is asyncio-native: `parse()` borrows an idle worker (starting one if fewer than
`size` run), writes the request and awaits the reply. A worker that dies mid-request (killed for
memory on a hostile body) costs that one feed a "parser process died" error; the next request
starts a fresh one. A request cancelled mid-way kills its worker, whose stream is then out of step.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from bot.ingest.parse import ParsedFeed
    from bot.statements.figures import Figure

FRAME = struct.Struct(">Q")  # length of the pickle that follows
BOOT = "from bot.ingest.parsepool import serve; serve()"
SECRET_PREFIXES = ("NEWSBOT_", "SLACK_", "DISCORD_")  # kept out of a worker's environment
_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding the `bot` package


@dataclass
class WorkerUsage:
    """What the parse workers have cost so far (benchmarks read it; workers come and go)."""

    started: int = 0  # worker processes started
    cpu_s: float = 0.0  # user + system CPU of workers already stopped
    peak_rss_mb: float = 0.0  # the largest peak RSS (VmHWM) of one worker


def _proc_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of a live process from /proc; zeros where /proc is missing."""
    cpu = hwm = 0.0
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError, IndexError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return cpu, hwm


class ParsePool:
    """Up to `size` worker processes running `bot.ingest.parse.parse_feed`."""

    def __init__(
        self, size: int, topics: dict[str, list[str]] | None = None, figures: tuple[Figure, ...] | None = None
    ) -> None:
        if size < 1:
            raise ValueError("a parse pool needs at least one process")
        self.size = size
        self.topics = topics
        self.figures = figures  # tracked figures: the workers extract statements too
        self.usage = WorkerUsage()
        self._slots = asyncio.Semaphore(size)
        self._idle: list[asyncio.subprocess.Process] = []
        self._live: set[asyncio.subprocess.Process] = set()
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """Worker processes running now (a benchmark samples their RSS and CPU)."""
        return [p.pid for p in self._live if p.returncode is None]

    async def parse(self, body: bytes, url: str, content_type: str) -> ParsedFeed:
        from bot.ingest.parse import ParsedFeed

        if self._closed:
            raise RuntimeError("parse pool is closed")
        async with self._slots:
            # Pickled only once a worker is free: the fetches waiting here hold their body once, not twice.
            request = pickle.dumps((body, url, content_type, self.topics, self.figures), protocol=pickle.HIGHEST_PROTOCOL)
            proc = self._idle.pop() if self._idle else await self._start()
            ok = False
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(FRAME.pack(len(request)) + request)
                await proc.stdin.drain()
                (n,) = FRAME.unpack(await proc.stdout.readexactly(FRAME.size))
                result: ParsedFeed = pickle.loads(await proc.stdout.readexactly(n))
                ok = True
                return result
            except (asyncio.IncompleteReadError, ConnectionError):
                return ParsedFeed(error="parse error: parser process died")
            finally:
                if ok and not self._closed:
                    self._idle.append(proc)
                else:  # died, cancelled mid-request, or closed meanwhile: never reuse it
                    await asyncio.shield(self._stop(proc, kill=True))

    async def _start(self) -> asyncio.subprocess.Process:
        # The process that reads hostile bytes holds no secrets: tokens and settings stay with the parent.
        env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", BOOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )
        self._live.add(proc)
        self.usage.started += 1
        return proc

    async def _stop(self, proc: asyncio.subprocess.Process, *, kill: bool = False) -> None:
        if proc not in self._live:
            return
        self._live.discard(proc)
        cpu, hwm = _proc_usage(proc.pid)
        self.usage.cpu_s += cpu
        self.usage.peak_rss_mb = max(self.usage.peak_rss_mb, hwm)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        elif proc.stdin is not None:
            proc.stdin.close()  # the worker exits at end of input
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def aclose(self) -> None:
        """Stop every worker: idle ones at end of input, busy ones (a cancelled cycle) killed."""
        self._closed = True
        idle, self._idle = self._idle, []
        busy = [p for p in self._live if p not in idle]
        await asyncio.gather(*(self._stop(p) for p in idle), *(self._stop(p, kill=True) for p in busy))


# -- the worker side ---------------------------------------------------------------------------
def _read_exactly(stream: BinaryIO, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(inp: BinaryIO | None = None, out: BinaryIO | None = None) -> None:
    """A worker's main loop: requests from stdin, replies to stdout, until stdin closes."""
    from bot.ingest.parse import ParsedFeed, parse_feed
    from bot.runtime import heap

    heap.settle()  # the parser, cleaner and figure matchers stay loaded: see bot/heap.py
    inp = inp or sys.stdin.buffer
    out = out or sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the reply stream
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    while True:
        head = _read_exactly(inp, FRAME.size)
        if head is None:
            return
        data = _read_exactly(inp, FRAME.unpack(head)[0])
        if data is None:
            return
        body, url, content_type, topics, figures = pickle.loads(data)
        result: Any
        try:
            result = parse_feed(body, url, content_type, topics, figures)
        except Exception as exc:  # a parser bug on one feed: report it for that feed, keep serving
            result = ParsedFeed(error=f"parse error: {type(exc).__name__}: {exc}"[:300])
        reply = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(FRAME.pack(len(reply)) + reply)
        out.flush()
