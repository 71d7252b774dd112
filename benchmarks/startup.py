"""Start-up to healthy: seconds from spawning `newsbot run` to the first `/healthz` 200.

Two cases, each repeated: a cold start on an empty SQLite file (migrations run) and a warm start
on an existing archive (the seeds loaded). The console adapter serves chat (no tokens). Target:
under 3 s on the small server. Figures only; nothing is asserted.

    .venv/bin/python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.helpers import ROOT, Bot, bot_env, cli, free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc: the start-up's cost without the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: list[float] = []


async def one(db_url: str, config: Path, log: Path) -> tuple[float, float]:
    env = bot_env(db_url, config, free_port(), NEWSBOT_INGEST_EVERY_S="60")
    t0 = time.monotonic()
    bot = await Bot(env, log).start()
    await bot.wait_healthy(120)
    up = time.monotonic() - t0
    assert bot.proc is not None
    CPU.append(cpu_seconds(bot.proc.pid))
    t1 = time.monotonic()
    rc = await bot.stop(60)
    down = time.monotonic() - t1
    if rc != 0:
        raise SystemExit(f"newsbot run exited {rc}: {bot.log_tail()}")
    return up, down


async def main(runs: int) -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="newsbot-startup-") as tmp:
        d = Path(tmp)
        config = d / "newsbot.yaml"
        config.write_text("feeds: []\n")
        cold, warm, stops = [], [], []
        for i in range(runs):
            up, down = await one(f"sqlite:///{d}/cold{i}.db", config, d / "cold.log")
            cold.append(up)
            stops.append(down)
        warm_db = f"sqlite:///{d}/warm.db"
        await asyncio.to_thread(cli, bot_env(warm_db, config, 0), "seed", str(ROOT / "seeds"))
        for _ in range(runs):
            up, down = await one(warm_db, config, d / "warm.log")
            warm.append(up)
            stops.append(down)

    def row(name: str, xs: list[float]) -> str:
        return f"{name:<34} median {statistics.median(xs):5.2f} s   min {min(xs):5.2f} s   max {max(xs):5.2f} s   (n={len(xs)})"

    print(f"cpus: {os.cpu_count()}   load average at start: {load:.2f} (other work on the machine inflates wall times)")
    print(row("start-up to healthy, empty DB", cold))
    print(row("start-up to healthy, seeded DB", warm))
    print(row("SIGTERM to exit", stops))
    print(f"{'CPU time of the bot until healthy':<34} median {statistics.median(CPU):5.2f} s   (user+sys; what an idle 1-core box would take)")
    print(f"target: start-up under 3 s -> {'met' if statistics.median(warm + cold) < 3 else 'NOT met'} (median of all runs)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    asyncio.run(main(args.runs))
