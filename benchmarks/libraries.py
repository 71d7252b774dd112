"""Our hand-written parts against the well-kept library that could replace each: speed and behaviour.

    .venv/bin/python benchmarks/libraries.py [--only robots,urls,trie,opml,pool,limiter,http]

The libraries that were not adopted are not dependencies; a part whose library is missing says
which `pip install` compares it. Each part prints CPU time per operation (best of 3,
time.process_time) and the behaviour that decided it.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures as cf
import multiprocessing as mp
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bot.cli.main  # noqa: E402,F401  what the `newsbot` console script's __main__ imports (see `pool`)

FEED = (
    b"<rss version='2.0'><channel><title>t</title><item><title>a</title>"
    b"<link>https://a.example/1</link></item></channel></rss>"
)


def best(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Fewest CPU seconds over `repeat` runs."""
    out = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out = min(out, time.process_time() - t)
    return out


def missing(module: str, package: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        print(f"  (not installed: `.venv/bin/pip install {package}` to compare)")
        return True
    return False


def robots() -> None:
    from urllib.robotparser import RobotFileParser

    from protego import Protego

    text = "User-agent: *\n" + "".join(f"Disallow: /section{i}/*.pdf$\nAllow: /section{i}/public\n" for i in range(100))
    urls = [f"https://x.example/section{i % 150}/article-{i}.html?id={i}" for i in range(10000)]

    def std() -> RobotFileParser:
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        return parser

    s, p = std(), Protego.parse(text)
    print(f"  parse 200 rules:  urllib.robotparser {best(std) * 1e3:.2f} ms, protego {best(lambda: Protego.parse(text)) * 1e3:.2f} ms")
    t_std = best(lambda: [s.can_fetch("newsbot", u) for u in urls]) / len(urls)
    t_pro = best(lambda: [p.can_fetch(u, "newsbot") for u in urls]) / len(urls)
    print(f"  one can_fetch:    urllib.robotparser {t_std * 1e6:.1f} us, protego {t_pro * 1e6:.1f} us")
    rules = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /\nAllow: /news/\n"
    s2 = RobotFileParser()
    s2.parse(rules.splitlines())
    p2 = Protego.parse(rules)
    for url in ("https://x.example/news/1.html", "https://x.example/news/1.pdf"):
        print(f"  {url} under `Disallow: /*.pdf$`, `Disallow: /`, `Allow: /news/`: "
              f"urllib {s2.can_fetch('newsbot', url)}, protego {p2.can_fetch(url, 'newsbot')}")


def urls() -> None:
    from bot.text.urls import canonical_url

    if missing("courlan", "courlan"):
        return
    from courlan import normalize_url

    rnd = random.Random(1)
    queries = ["", "", "", "?utm_source=rss&utm_medium=feed", "?id=7", "?p=7&utm_campaign=x", "?ocid=rss&smid=tw"]
    links = [
        f"https://www.publisher{rnd.randrange(50)}.example/{rnd.choice(['news', 'world'])}/2026/12/story-{i}{rnd.choice(queries)}"
        for i in range(20000)
    ]
    print(f"  per URL: ours {best(lambda: [canonical_url(u) for u in links]) / len(links) * 1e6:.2f} us, "
          f"courlan.normalize_url {best(lambda: [normalize_url(u) for u in links]) / len(links) * 1e6:.2f} us")
    for u in ("https://x.example/story?b=2&a=1", "https://x.example/story?ocid=rss&smid=tw&p=3", "javascript:alert(1)"):
        print(f"  {u}: ours {canonical_url(u)}, courlan {normalize_url(u)}, strict {normalize_url(u, strict=True)}")


def trie() -> None:
    import yaml

    from bot.statements.lexicon import ANON_BODY, CUE_BODY
    from bot.statements.trie import trie_pattern

    if missing("ahocorasick", "pyahocorasick"):
        return
    import ahocorasick

    phrases: set[str] = set()
    for fig in yaml.safe_load((ROOT / "config" / "newsbot.yaml").read_text())["figures"]:
        phrases |= {fig["name"], *fig.get("aliases", [])}
        for t in fig.get("titles", []):
            phrases |= {t["title"], t["title"][:1].upper() + t["title"][1:], t["title"][:1].lower() + t["title"][1:]}
    real = len(phrases)
    rnd = random.Random(7)
    first = ["Anna", "Boris", "Carla", "David", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Karin", "Luis"]
    first += ["Marta", "Nils", "Olga", "Pavel", "Rosa", "Sven"]
    last = ["Adams", "Berg", "Costa", "Dubois", "Ek", "Fischer", "Garcia", "Horvat", "Ivanova", "Jensen", "Kowalski"]
    last += ["Lopez", "Moreau", "Novak", "Olsen", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Varga"]
    last += ["Weber", "Yilmaz", "Zhang"]
    places = ["Austrian", "Belgian", "Czech", "Danish", "Estonian", "Finnish", "Greek", "Irish", "Italian", "Polish"]
    places += ["Spanish", "Swedish", "Turkish"]
    roles = ["Prime Minister", "prime minister", "foreign minister", "Defence Minister", "President", "army chief"]
    # 18 x 25 names, their surnames and 13 x 6 titles: well over the 600 drawn here
    while len(phrases) < 600:
        a, b = rnd.choice(first), rnd.choice(last)
        phrases |= {f"{a} {b}", b, f"{rnd.choice(places)} {rnd.choice(roles)}"}
    text = "\n\n".join(p.read_text() for p in sorted((ROOT / "seeds").glob("*.txt")))
    text = (text + "\n\n") * max(1, 2_000_000 // len(text))
    words = len(text.split())

    names = re.compile(r"(?<!\w)(?=\w)(?:" + trie_pattern(phrases) + r")(?![\w\-])")
    rest = [rf"(?P<cue>{CUE_BODY})(?![\w\-])", rf"(?P<anon>{ANON_BODY})(?![\w\-])", r"(?P<pron>[Hh]e|[Ss]he|[Tt]hey)(?![\w\-’'])"]
    one_pass = re.compile(r"(?<!\w)(?=\w)(?:" + "|".join([rf"(?P<name>{trie_pattern(phrases)})(?![\w\-])", *rest]) + ")")
    others = re.compile(r"(?<!\w)(?=\w)(?:" + "|".join(rest) + ")")
    automaton = ahocorasick.Automaton()
    for p in phrases:
        automaton.add_word(p, p)
    automaton.make_automaton()

    def ac_scan(t: str) -> list[tuple[int, int]]:
        out = []
        for end, p in automaton.iter_long(t):
            s = end - len(p) + 1
            before_ok = s == 0 or not (t[s - 1].isalnum() or t[s - 1] == "_")
            after_ok = end + 1 >= len(t) or not (t[end + 1].isalnum() or t[end + 1] in "_-")
            if before_ok and after_ok:
                out.append((s, end + 1))
        return out

    print(f"  {len(phrases)} phrases ({real} from config/newsbot.yaml), {words} words of seed articles")
    for label, fn in (
        ("names only: prefix-tree regex (ours)", lambda: [m.span() for m in names.finditer(text)]),
        ("names only: pyahocorasick iter_long", lambda: ac_scan(text)),
        ("names+cues+sources+pronouns, one regex (ours)", lambda: [m.span() for m in one_pass.finditer(text)]),
        ("cues+sources+pronouns regex + pyahocorasick", lambda: [m.span() for m in others.finditer(text)] + ac_scan(text)),
    ):
        s = best(fn)
        print(f"  {label:46s} {s * 1e3:7.1f} ms  {words / s / 1e6:5.2f} M words/s")
    flexy = "the NATO Secretary\nGeneral; the alliance’s chief; the NATO  chief"
    print(f"  {flexy!r}: ours finds {[m.group() for m in names.finditer(flexy)]}, pyahocorasick {[flexy[a:b] for a, b in ac_scan(flexy)]}")


def opml() -> None:
    from bot.ingest.opml import OpmlError, parse_opml

    if missing("listparser", "listparser"):
        return
    import listparser

    big = b'<?xml version="1.0"?><opml version="2.0"><body>' + b"".join(
        b'<outline text="f%d"><outline type="rss" text="Feed %d" xmlUrl="https://h%d.example/rss"/></outline>' % (i, i, i)
        for i in range(2000)
    ) + b"</body></opml>"
    print(f"  2,000-feed OPML: ours {best(lambda: parse_opml(big)) * 1e3:.1f} ms, listparser {best(lambda: listparser.parse(big)) * 1e3:.1f} ms")
    broken = b"<opml><body><outline></body>"
    got = listparser.parse(broken)
    try:
        parse_opml(broken)
        ours = "accepted"
    except OpmlError as exc:
        ours = str(exc)
    print(f"  {broken.decode()!r}: ours {ours!r}; listparser bozo={bool(got.bozo)}, {len(got.feeds)} feeds, no error")
    print(f"  writer: listparser has {[n for n in dir(listparser) if 'write' in n or 'dump' in n] or 'none'}")


def _rss_and_secret(_: object = None) -> tuple[float, bool]:
    from bot.ingest.parse import parse_feed

    parse_feed(FEED, "https://a.example/rss", "application/rss+xml", None, None)
    hwm = 0.0
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return hwm, "NEWSBOT_BENCH_SECRET" in os.environ


def _slow(i: int) -> int:
    time.sleep(1.0)
    return i


def _die(_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pool() -> None:
    from bot.ingest.parsepool import ParsePool, _proc_usage

    os.environ["NEWSBOT_BENCH_SECRET"] = "x"
    spawn = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(1, mp_context=spawn) as ex:
        hwm, secret = ex.submit(_rss_and_secret).result()
    print(f"  ProcessPoolExecutor(spawn) worker, one small feed parsed: peak RSS {hwm:.1f} MB, sees NEWSBOT_ variables: {secret}")

    async def ours() -> float:
        p = ParsePool(1)
        await p.parse(FEED, "https://a.example/rss", "application/rss+xml")
        peak = max(_proc_usage(pid)[1] for pid in p.pids)
        await p.aclose()
        return peak

    print(f"  ParsePool worker, the same feed:                    peak RSS {asyncio.run(ours()):.1f} MB, sees NEWSBOT_ variables: False")
    with cf.ProcessPoolExecutor(2, mp_context=spawn) as ex:
        futures = [ex.submit(_slow, i) for i in range(3)] + [ex.submit(_die, None)]
        outcomes: list[object] = []
        for f in futures:
            try:
                outcomes.append(f.result())
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        try:
            ex.submit(_slow, 9).result()
            after = "usable"
        except Exception as exc:
            after = type(exc).__name__
    print(f"  ProcessPoolExecutor, 3 parses beside 1 worker killed: {outcomes}; the next submit: {after}")
    del os.environ["NEWSBOT_BENCH_SECRET"]


def limiter() -> None:
    from bot.net.ratelimit import HostLimiter

    if missing("aiolimiter", "aiolimiter"):
        return
    from aiolimiter import AsyncLimiter

    async def run(enter: Callable[[], Any]) -> list[float]:
        t0 = time.monotonic()
        log: list[tuple[float, float]] = []

        async def one() -> None:
            async with enter():
                start = time.monotonic() - t0
                await asyncio.sleep(1.5)  # a slow publisher
                log.append((start, time.monotonic() - t0))

        await asyncio.gather(*(one() for _ in range(5)))
        log.sort()
        return [round(b[0] - a[1], 2) for a, b in zip(log, log[1:], strict=False)]

    class Both:
        def __init__(self) -> None:
            self.rate, self.sem = AsyncLimiter(1, 0.5), asyncio.Semaphore(2)

        def __call__(self) -> Both:
            return self

        async def __aenter__(self) -> None:
            await self.sem.acquire()
            await self.rate.acquire()

        async def __aexit__(self, *exc: object) -> None:
            self.sem.release()

    async def main() -> None:
        ours = HostLimiter(rate_per_s=2.0, concurrency=2)
        print("  5 requests, 2/s and 2 at once, each answered after 1.5 s; next start minus previous answer (s):")
        print(f"    HostLimiter:              {await run(lambda: ours.slot('http://h:80'))}")
        print(f"    aiolimiter + Semaphore:   {await run(Both())}")
        print(f"  aiolimiter's API: {[m for m in dir(AsyncLimiter) if not m.startswith('_')]} (no per-key limits, no Retry-After)")

    asyncio.run(main())


def http() -> None:
    code = (
        "import time; t = time.process_time(); import {m}; cpu = time.process_time() - t; "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]; print(cpu, hwm)"
    )
    for mods in ("aiohttp, slack_bolt.async_app, discord", "aiohttp, slack_bolt.async_app, discord, httpx, httpcore"):
        runs = [subprocess.run([sys.executable, "-c", code.format(m=mods)], capture_output=True, text=True, check=True).stdout.split()
                for _ in range(7)]
        cpu = min(float(r[0]) for r in runs)
        rss = sorted(int(r[1]) for r in runs)[3] / 1024
        print(f"  import {mods}: {cpu * 1e3:.0f} ms CPU (best of 7), peak RSS {rss:.1f} MB (median)")


PARTS = {"robots": robots, "urls": urls, "trie": trie, "opml": opml, "pool": pool, "limiter": limiter, "http": http}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    args = ap.parse_args()
    for name in args.only.split(","):
        print(f"{name}:")
        PARTS[name]()


if __name__ == "__main__":
    main()
