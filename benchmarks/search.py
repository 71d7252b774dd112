"""Search benchmark: a synthetic archive in SQLite and PostgreSQL, timed through the real search API.

    .venv/bin/python benchmarks/search.py                      # 100k articles, both backends
    .venv/bin/python benchmarks/search.py --articles 1000000 --backend sqlite
    .venv/bin/python benchmarks/search.py --keep /tmp/arch     # build into / reuse PATH-sqlite.db, PATH-pg/
    .venv/bin/python benchmarks/search.py --compare            # and check both backends match the same articles

Why synthetic: the figures must be reproducible on any machine without a news corpus. Articles are
~400 words drawn from a Zipf-distributed vocabulary (real function and news words at the head,
generated words in the tail, fixed bigrams such as "white house" for phrase lookups), topic words
sprinkled by topic, 40 outlets, published dates over three years arriving in rough date order with
some late arrivals. The schema is the real one (Alembic migrations). The newest `--measured-inserts`
articles (SQLite) or the first (PostgreSQL) go in through the index as an ingester's would: that
is the insert-throughput figure. The rest is bulk-loaded for build speed only, with the full-text
indexes built after the load (SQLite: FTS5 'rebuild'; PostgreSQL: see `_bulk_postgres`), into
the same rows, columns and indexes. Built databases are cached under benchmarks/out/ (gitignored).

Lookups run through `bot.store.search.search()` on a warm cache: each query once untimed, then
timed. The naive ranking (score every match, then LIMIT 10) runs in the same session as a baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import OUT, Latency, rate, rss_mb  # noqa: E402
from bot.runtime import heap  # noqa: E402
from bot.store.db import make_engine, session_factory  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import sqlite_time  # noqa: E402
from bot.store.search import compact_article_days, search  # noqa: E402
from bot.store.search.query import Query, parse_query  # noqa: E402

SEED = 20250601
BATCH = 2000
SPAN = timedelta(days=3 * 365)


def _split(words: str) -> list[str]:
    return words.split()


FUNCTION_WORDS = _split(
    "the of and to a in that is for on it with as was by he said at from his be have has are an this which not"
    " but they were had or its who their will been would more after also one there about up than over into new"
    " two we i our she her them could can us all if what when no so other some may just"
)
NEWS_WORDS = _split(
    "nato ukraine trump russia president minister government military defence security alliance kyiv war"
    " officials european europe summit talks forces aid support countries spending troops peace ceasefire"
    " sanctions moscow washington brussels putin zelensky rutte tariffs election congress missile drones attack"
    " border leaders meeting agreement deal week statement foreign policy decision members countries state"
    " press conference report sources spokesman budget funding weapons air strikes front region energy trade"
)
BIGRAMS = [
    "white house",
    "prime minister",
    "foreign minister",
    "defence minister",
    "peace talks",
    "secretary general",
    "european union",
    "air defence",
    "said on",
    "united states",
]
TOPIC_WORDS = {
    "nato": ["nato", "rutte", "alliance", "secretary general"],
    "ukraine": ["ukraine", "kyiv", "zelensky", "ukrainian"],
    "trump": ["trump", "tariffs", "white house", "republican"],
}
OUTLETS = [
    "Reuters",
    "Associated Press",
    "BBC News",
    "The Guardian",
    "Politico Europe",
    "Kyiv Independent",
    "Deutsche Welle",
    "France 24",
    "Al Jazeera",
    "The New York Times",
    "Washington Post",
    "Financial Times",
    "Euronews",
    "NPR",
    "CNN",
] + [f"Regional Outlet {i}" for i in range(25)]
SYLLABLES = _split("ka lo mi ne ru ta vi zo be da fe gu ho ji ku la mo no pa qui re si tu vo wa xe yo zu bri cla dro fla gri plo stra tre")
VOCAB_SIZE = 200_000
ZIPF_S = 1.07


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]
    cum: list[float]
    probs: list[float]

    def expected_df(self, rank: int, articles: int, length: int = 400) -> float:
        return articles * (1 - (1 - self.probs[rank]) ** length)


def vocabulary() -> Vocabulary:
    """The same word list and Zipf weights in every process (generation is deterministic)."""
    rng = random.Random(SEED)
    real = list(dict.fromkeys(FUNCTION_WORDS + NEWS_WORDS))
    # News words and bigrams sit at ranks ~40-400, interleaved with generated words.
    words: list[str] = FUNCTION_WORDS[:40]
    news = real[40:] + BIGRAMS
    seen = set(real) | set(BIGRAMS)
    while len(words) < VOCAB_SIZE:
        if news and len(words) % 3 == 0:
            words.append(news.pop(0))
            continue
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    weights = [1 / (r + 2.7) ** ZIPF_S for r in range(len(words))]
    total = sum(weights)
    probs = [w / total for w in weights]
    cum: list[float] = []
    acc = 0.0
    for p in probs:
        acc += p
        cum.append(acc)
    return Vocabulary(words, cum, probs)


_VOCAB: Vocabulary | None = None


def _vocab() -> Vocabulary:
    global _VOCAB
    if _VOCAB is None:
        _VOCAB = vocabulary()
    return _VOCAB


POOL_SIZE = 60_000
GENERATOR = 2  # bump when the generated corpus changes: cached archives are rebuilt
_POOL: list[str] | None = None


def _sentence(rng: random.Random, v: Vocabulary, size: int) -> str:
    s = " ".join(rng.choices(v.words, cum_weights=v.cum, k=size))
    return s[:1].upper() + s[1:] + "."


def _pool() -> list[str]:
    """Shared sentences (Zipf words): drawing whole sentences keeps generation ~10x cheaper than
    drawing every word, so a million articles build in minutes on two busy cores."""
    global _POOL
    if _POOL is None:
        rng = random.Random(SEED + 2)
        _POOL = [_sentence(rng, _vocab(), rng.randint(10, 26)) for _ in range(POOL_SIZE)]
    return _POOL


DISTINCT_TEXTS = 100_000
_LAST: tuple[int, tuple[random.Random, list[str], str, str]] | None = None


def _content(s: int) -> tuple[random.Random, list[str], str, str]:
    """Topics, title and text of source text s, and its random stream (continued by `article`)."""
    v = _vocab()
    pool = _pool()
    rng = random.Random(SEED * 1_000_003 + s)
    topics = [t for t in TOPIC_WORDS if rng.random() < 0.3]
    sentences = rng.choices(pool, k=rng.randint(12, 20))
    for _ in range(rng.randint(3, 7)):
        sentences.insert(rng.randrange(len(sentences) + 1), _sentence(rng, v, rng.randint(10, 26)))
    for t in topics:
        words = rng.choices(v.words[:400], cum_weights=v.cum[:400], k=rng.randint(8, 16))
        for _ in range(rng.randint(1, 5)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(TOPIC_WORDS[t]))
        sentences.insert(rng.randrange(len(sentences) + 1), " ".join(words).capitalize() + ".")
    text = "\n".join(" ".join(sentences[k : k + 4]) for k in range(0, len(sentences), 4))
    title_words = rng.choices(v.words[40:2000], k=rng.randint(5, 10))
    if topics and rng.random() < 0.7:
        title_words.insert(0, TOPIC_WORDS[topics[0]][rng.randrange(3)])
    return rng, topics, " ".join(title_words).capitalize(), text


def article(i: int, n: int, end: datetime) -> tuple[Any, ...]:
    """Article number i of n (ids follow arrival), deterministic from (SEED, i).

    ~16 pooled sentences plus ~5 of its own (fresh Zipf draws: where the rare words come from),
    and a sentence or two of topic words for each of its topics. Above 100k articles, runs of
    n/100k consecutive articles share one text (a wire story re-published by several outlets
    within hours), so a million articles cost the generation of 100k texts; word and phrase
    frequencies scale with the archive as they would with distinct texts.
    """
    global _LAST
    per = max(1, math.ceil(n / DISTINCT_TEXTS))
    s = i // per
    if _LAST is None or _LAST[0] != s:
        _LAST = (s, _content(s))
    rng, topics, title, text = _LAST[1]
    if per > 1:
        rng = random.Random(SEED * 1_000_003 + i + 10**9)
    outlet = OUTLETS[min(int(rng.paretovariate(1.2)) - 1, len(OUTLETS) - 1)]
    published = end - SPAN + SPAN * (i / n) + timedelta(minutes=rng.uniform(-90, 90))
    if rng.random() < 0.1:  # late arrivals: published up to three days before they reach us
        published -= timedelta(hours=rng.uniform(3, 72))
    published = min(published, end)
    digest = hashlib.sha256(f"{outlet}\n{title}\n{text}".encode()).hexdigest()
    return (i + 1, f"https://bench.example/{i}", f"bench:{i}", title, outlet, published, " ".join(topics), text, digest)


def _batch(args: tuple[int, int, int, datetime]) -> list[tuple[Any, ...]]:
    start, stop, n, end = args
    return [article(i, n, end) for i in range(start, stop)]


def batches(
    start: int, stop: int, end: datetime, size: int = BATCH, total: int | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """Articles start..stop of `total`, generated in a second process while this one inserts."""
    n = total or stop
    jobs = [(s, min(s + size, stop), n, end) for s in range(start, stop, size)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        yield from pool.imap(_batch, jobs)


# ---------------------------------------------------------------------------------------------- build

COLUMNS = "id, url, guid, title, outlet, published_at, topics, text, content_hash"
EXTRA = "published_inferred, first_seen_at, summary_only, origin, revision"


@dataclass
class Built:
    articles: int
    built_at: datetime
    insert_rate: float  # articles/s into the database with the full-text index in place (DB time)
    insert_note: str


def _meta_path(folder_or_file: Path) -> Path:
    return folder_or_file.with_name(folder_or_file.name + ".meta.json")


def _read_meta(target: Path, n: int) -> Built | None:
    meta = _meta_path(target)
    if not meta.exists():
        return None
    d = json.loads(meta.read_text())
    if d.get("articles") != n or d.get("generator") != GENERATOR:
        return None
    return Built(n, datetime.fromisoformat(d["built_at"]), d["insert_rate"], d["insert_note"])


def _write_meta(target: Path, built: Built) -> None:
    _meta_path(target).write_text(
        json.dumps(
            {
                "articles": built.articles,
                "generator": GENERATOR,
                "built_at": built.built_at.isoformat(),
                "insert_rate": built.insert_rate,
                "insert_note": built.insert_note,
            }
        )
    )


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def build_sqlite(path: Path, n: int, measured: int) -> Built:
    """Bulk part first with the FTS5 triggers off and one 'rebuild' after (build speed only); then the
    newest `measured` articles go through the triggers, 2,000 a transaction, as the ingester's would:
    that is the throughput figure, and it leaves fresh small segments on top, as a live index has."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), _meta_path(path)):
        p.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_migrate(f"sqlite:///{path}"))
    end = datetime.now(UTC).replace(microsecond=0)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-262144")
    sql = f"INSERT INTO articles ({COLUMNS}, {EXTRA}) VALUES (?,?,?,?,?,?,?,?,?, 0, ?, 0, 'feed', 1)"
    seen = sqlite_time(end)
    measured = min(measured, n)
    bulk = n - measured
    t_all = time.perf_counter()
    if bulk:
        # only the FTS5 ones: the per-day id summary's triggers (migration 0007) keep it as ingestion would
        fts = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'articles_fts%'").fetchall()
        triggers = [sql for _name, sql in fts]
        for name, _sql in fts:
            con.execute(f"DROP TRIGGER {name}")
        done = 0
        for rows in batches(0, bulk, end, size=10_000, total=n):
            with con:
                con.executemany(sql, [(*r[:5], sqlite_time(r[5]), *r[6:], seen) for r in rows])
            done += len(rows)
            if done % 100_000 == 0:
                print(f"  sqlite: {done:,} articles (bulk), {time.perf_counter() - t_all:,.0f} s", flush=True)
        t0 = time.perf_counter()
        with con:
            con.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
            for t in triggers:
                con.execute(t)
        print(f"  sqlite: FTS5 rebuilt over {bulk:,} articles in {time.perf_counter() - t0:,.0f} s", flush=True)
    db_time = 0.0
    done = 0
    for rows in batches(bulk, n, end):
        params = [(*r[:5], sqlite_time(r[5]), *r[6:], seen) for r in rows]
        t0 = time.perf_counter()
        with con:
            con.executemany(sql, params)
        db_time += time.perf_counter() - t0
        done += len(rows)
    print(f"  sqlite: {done:,} articles through the triggers, {rate(done, db_time)} (DB time)", flush=True)
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    note = f"FTS5 triggers, 2,000 articles a transaction, synchronous=OFF, the newest {done:,} onto {bulk:,}"
    built = Built(n, end, done / db_time if db_time else 0.0, note)
    _write_meta(path, built)
    return built


def _pg_server_class() -> Any:
    from tests.conftest import PgServer, _pg_bin, free_port

    class BenchPg(PgServer):
        """The tests' throwaway server, kept in a folder so a built archive can be reused."""

        def __init__(self, folder: Path) -> None:
            self.dir = folder
            self.data = folder / "data"
            self.port = free_port()
            self.as_root = os.geteuid() == 0

        def start(self) -> str:
            self.dir.mkdir(parents=True, exist_ok=True)
            if self.as_root:
                shutil.chown(self.dir, "postgres", "postgres")
            if not (self.data / "PG_VERSION").exists():
                self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
            opts = (
                f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off"
                " -c full_page_writes=off -c shared_buffers=1GB -c maintenance_work_mem=1GB"
                " -c max_wal_size=8GB -c checkpoint_timeout=30min -c effective_cache_size=16GB"
            )
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
            return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/bench"

        def stop(self) -> None:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    return BenchPg


async def _pg_connect(url: str) -> Any:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg", "postgresql")
    for attempt in range(50):
        try:
            return await asyncpg.connect(dsn)
        except (OSError, asyncpg.CannotConnectNowError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.1)


GENERATED = ("tsv", "tsv_pairs")  # the costly generated columns (~2.4 ms of server CPU an article)
LOAD_CHUNK = 20_000  # articles an INSERT ... SELECT (its trigger's transition table holds them all)


async def _bulk_postgres(url: str, con: Any, start: int, n: int, end: datetime) -> None:
    """Articles start..n, loaded set-based with the GIN indexes dropped and re-created after.

    Where a build's time went (2 busy cores): the generated `tsv` and `tsv_pairs` columns cost
    ~3 ms of server CPU an article at COPY (the pairs function ~1.6 ms, each `to_tsvector` ~0.6);
    the GIN indexes ~1.3 ms of CPU an article, ~1.1 of it the pairs' index (~24 ms a heap block
    of ~21 articles at 1M; text[] in the database's or the "C" collation, or the pairs as a
    tsvector, cost alike), which no loading order avoids.
    Above 100k articles runs of consecutive articles share one text (see `article`), so the two
    columns are computed once per distinct text, in the server with the columns' own expressions
    (read from the catalog), and copied into each article of the run: for the load the columns are
    marked not generated in `pg_attribute`, and marked generated again after (same expression,
    same values, same schema; `_check_generated` recomputes a sample to prove it). The GIN
    indexes are then built two at a time, one per connection."""
    per = max(1, math.ceil(n / DISTINCT_TEXTS))
    exprs = dict(
        await con.fetch(
            "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_attrdef d"
            " ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attrelid = 'articles'::regclass AND a.attgenerated = 's' AND a.attname = ANY($1::text[])",
            list(GENERATED),
        )
    )
    assert set(exprs) == set(GENERATED), exprs
    defs = [
        r["indexdef"]
        for r in await con.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'articles' AND indexdef ILIKE '%USING gin%'"
        )
    ]
    for d in defs:
        await con.execute(f"DROP INDEX {d.split(' INDEX ', 1)[1].split(' ON ', 1)[0]}")
    await con.execute("CREATE UNLOGGED TABLE bench_texts (s int PRIMARY KEY, title text, text text)")
    await con.execute(
        "CREATE UNLOGGED TABLE bench_rows (id bigint, url text, guid text, outlet text, published_at timestamptz,"
        " topics text, content_hash text, s int)"
    )
    t0 = time.perf_counter()
    queue: asyncio.Queue[list[tuple[Any, ...]] | None] = asyncio.Queue(maxsize=4)
    seen: set[int] = set()

    async def copier() -> None:
        c = await _pg_connect(url)
        try:
            while (rows := await queue.get()) is not None:
                texts = []
                for r in rows:
                    s = (r[0] - 1) // per
                    if s not in seen:
                        seen.add(s)
                        texts.append((s, r[3], r[7]))
                await c.copy_records_to_table("bench_texts", records=texts, columns=["s", "title", "text"])
                await c.copy_records_to_table(
                    "bench_rows", records=[(*r[:3], *r[4:7], r[8], (r[0] - 1) // per) for r in rows]
                )
        finally:
            await c.close()

    workers = [asyncio.create_task(copier()) for _ in range(2)]
    done = 0
    for rows in batches(start, n, end, size=BATCH, total=n):
        await queue.put(rows)
        done += len(rows)
        if done % 100_000 == 0:
            print(f"  postgres: {done:,} articles generated, {time.perf_counter() - t0:,.0f} s", flush=True)
    for _ in workers:
        await queue.put(None)
    await asyncio.gather(*workers)
    texts = await con.fetchval("SELECT count(*) FROM bench_texts")
    print(f"  postgres: COPY {done:,} articles ({texts:,} distinct texts) in {time.perf_counter() - t0:,.0f} s", flush=True)

    t0 = time.perf_counter()
    await con.execute(
        f"CREATE UNLOGGED TABLE bench_computed AS SELECT s, {exprs['tsv']} AS tsv, {exprs['tsv_pairs']} AS tsv_pairs"
        " FROM bench_texts WHERE false"
    )

    async def compute(part: int) -> None:
        c = await _pg_connect(url)
        try:
            await c.execute(
                f"INSERT INTO bench_computed SELECT s, {exprs['tsv']}, {exprs['tsv_pairs']} FROM bench_texts"
                f" WHERE s % 2 = {part}"
            )
        finally:
            await c.close()

    await asyncio.gather(compute(0), compute(1))
    await con.execute("ALTER TABLE bench_computed ADD PRIMARY KEY (s)")
    print(f"  postgres: tsv and tsv_pairs of {texts:,} texts in {time.perf_counter() - t0:,.0f} s", flush=True)

    t0 = time.perf_counter()
    cols = [c.strip() for c in f"{COLUMNS}, {EXTRA}".split(",")] + list(GENERATED)
    flags = "UPDATE pg_attribute SET attgenerated = '{}' WHERE attrelid = 'articles'::regclass AND attname = ANY($1::text[])"
    await con.execute(flags.format(""), list(GENERATED))
    try:
        chunks: asyncio.Queue[int | None] = asyncio.Queue()
        for lo in range(start, n, LOAD_CHUNK):
            chunks.put_nowait(lo)

        async def loader() -> None:
            c = await _pg_connect(url)
            try:
                while not chunks.empty():
                    lo = chunks.get_nowait()
                    assert lo is not None
                    await c.execute(
                        f"INSERT INTO articles ({', '.join(cols)}) SELECT r.id, r.url, r.guid, t.title, r.outlet,"
                        " r.published_at, r.topics, t.text, r.content_hash, false, $3, false, 'feed', 1, g.tsv,"
                        " g.tsv_pairs FROM bench_rows r JOIN bench_texts t USING (s) JOIN bench_computed g USING (s)"
                        " WHERE r.id > $1 AND r.id <= $2 ORDER BY r.id",
                        lo,
                        lo + LOAD_CHUNK,
                        end,
                    )
            finally:
                await c.close()

        await asyncio.gather(loader(), loader())
    finally:
        await con.execute(flags.format("s"), list(GENERATED))
    await con.execute("DROP TABLE bench_rows, bench_texts, bench_computed")
    print(f"  postgres: {n - start:,} articles into the table in {time.perf_counter() - t0:,.0f} s", flush=True)
    await _check_generated(con, exprs)

    t0 = time.perf_counter()
    todo = sorted(defs, key=lambda d: "tsv_pairs" not in d)  # the longest first

    async def indexer() -> None:
        c = await _pg_connect(url)
        try:
            await c.execute("SET maintenance_work_mem = '3GB'")
            while todo:
                d = todo.pop(0)
                t1 = time.perf_counter()
                await c.execute(d)
                print(f"    {d.split(' INDEX ', 1)[1].split(' ON ', 1)[0]}: {time.perf_counter() - t1:,.0f} s", flush=True)
        finally:
            await c.close()

    await asyncio.gather(indexer(), indexer())
    print(f"  postgres: GIN indexes rebuilt in {time.perf_counter() - t0:,.0f} s", flush=True)


async def _check_generated(con: Any, exprs: dict[str, str]) -> None:
    """The copied columns equal what their generation expressions give (a sample of 2,000 rows)."""
    wrong = await con.fetchval(
        "SELECT count(*) FROM (SELECT * FROM articles ORDER BY random() LIMIT 2000) articles"
        f" WHERE tsv IS DISTINCT FROM ({exprs['tsv']}) OR tsv_pairs IS DISTINCT FROM ({exprs['tsv_pairs']})"
    )
    if wrong:
        raise RuntimeError(f"{wrong} of 2,000 sampled articles differ from their generated columns")
    generated = await con.fetchval(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'articles'::regclass AND attgenerated = 's'"
    )
    print(f"  postgres: a sample of 2,000 articles matches its generation expressions; {generated} generated columns")


async def build_postgres(url: str, n: int, folder: Path, measured: int) -> Built:
    """The first `measured` articles are INSERTed with every index in place (the throughput figure);
    the rest go in by `_bulk_postgres`, for build speed only: the same rows, columns and indexes."""
    admin = await _pg_connect(url.rsplit("/", 1)[0] + "/postgres")
    await admin.execute("DROP DATABASE IF EXISTS bench")
    await admin.execute("CREATE DATABASE bench")
    await admin.close()
    await _migrate(url)
    end = datetime.now(UTC).replace(microsecond=0)
    con = await _pg_connect(url)
    measured = min(measured, n)
    sql = f"INSERT INTO articles ({COLUMNS}, {EXTRA}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9, false, $10, false, 'feed', 1)"
    db_time = 0.0
    done = 0
    for rows in batches(0, measured, end, size=1000, total=n):
        t0 = time.perf_counter()
        async with con.transaction():
            await con.executemany(sql, [(*r, end) for r in rows])
        db_time += time.perf_counter() - t0
        done += len(rows)
    insert_rate = done / db_time if db_time else 0.0
    print(f"  postgres: {done:,} articles INSERTed with indexes, {rate(done, db_time)} (DB time)", flush=True)
    if measured < n:
        await _bulk_postgres(url, con, measured, n, end)
    # the per-day id summary (migration 0007) got a row per INSERT and per COPY batch: folded to one
    # a day, as each ingest cycle leaves it
    engine = make_engine(url)
    async with session_factory(engine).begin() as s:
        await compact_article_days(s)
    await engine.dispose()
    await con.execute("SELECT setval(pg_get_serial_sequence('articles', 'id'), (SELECT max(id) FROM articles))")
    await con.execute("VACUUM ANALYZE articles")
    await con.close()
    built = Built(n, end, insert_rate, f"INSERT executemany, 1,000 articles a transaction (first {measured:,})")
    _write_meta(folder, built)
    return built


# -------------------------------------------------------------------------------------------- queries


def _words(v: Vocabulary, lo: int, hi: int, single: bool = True) -> list[str]:
    return [w for w in v.words[lo:hi] if not (single and " " in w) and w not in FUNCTION_WORDS]


def query_mixes(n: int, count: int) -> dict[str, list[str]]:
    """Typical newsroom lookups; deterministic, with rare words picked to be rare at this size."""
    v = _vocab()
    rng = random.Random(SEED + 1)
    common = _words(v, 40, 400)
    mid = _words(v, 400, 4000)
    rare_ranks = [r for r in range(4000, VOCAB_SIZE, 7) if 3 <= v.expected_df(r, n) <= 100]
    rare = [v.words[r] for r in rare_ranks] or _words(v, VOCAB_SIZE - 2000, VOCAB_SIZE)
    phrases = BIGRAMS + ["nato summit", "said the", "of the", "the president"]
    topics = list(TOPIC_WORDS)

    def pick(options: list[str]) -> str:
        return rng.choice(options)

    makers: dict[str, Callable[[], str]] = {
        "common word": lambda: pick(common),
        "two common words": lambda: f"{pick(common)} {pick(common)}",
        "mid-frequency word": lambda: pick(mid),
        "rare word": lambda: pick(rare),
        "phrase": lambda: f'"{pick(phrases)}"',
        "OR": lambda: f"{pick(mid)} OR {pick(mid)}",
        "exclusion": lambda: f"{pick(common)} -{pick(common)}",
        "common since:7d": lambda: f"{pick(common)} since:7d",
        "common since:30d": lambda: f"{pick(common)} since:30d",
        "rare since:30d": lambda: f"{pick(rare)} since:30d",
        "phrase since:30d": lambda: f'"{pick(phrases)}" since:30d',
        "common topic:": lambda: f"{pick(common)} topic:{pick(topics)}",
        "rare topic:": lambda: f"{pick(rare)} topic:{pick(topics)}",
        "common source:": lambda: f"{pick(common)} source:{pick(['reuters', 'bbc', 'kyiv', 'guardian', 'outlet 7'])}",
        "topic: since:30d": lambda: f"{pick(common)} topic:{pick(topics)} since:30d",
        "filters only": lambda: f"topic:{pick(topics)} since:{pick(['24h', '7d'])}",
        # `before:` anywhere in the three years: its id bound comes from the per-day summary
        # (bot.store.search.id_bounds). Last, so the mixes above keep the queries of earlier runs.
        "common before:": lambda: f"{pick(common)} before:{pick(['3d', '30d', '6mo', '1y', '2y', '30mo'])}",
        "rare before:1y": lambda: f"{pick(rare)} before:1y",
        "phrase before:1y": lambda: f'"{pick(phrases)}" before:1y',
    }
    return {name: [make() for _ in range(count)] for name, make in makers.items()}


BASELINE_MIXES = ("common word", "phrase", "common since:30d")


async def naive_sqlite(session: Any, q: Query) -> int:
    from sqlalchemy import text

    from bot.store.search.sqlite import match_expression

    params: dict[str, Any] = {"m": match_expression(q)}
    dates = ""
    if q.since:
        dates = " AND a.published_at >= :since"
        params["since"] = sqlite_time(q.since)
    rows = (
        await session.execute(
            text(
                "SELECT a.id, a.title, bm25(articles_fts, 4.0, 1.0, 0.0, 0.0) AS score FROM articles_fts"
                f" JOIN articles a ON a.id = articles_fts.rowid WHERE articles_fts MATCH :m{dates}"
                " ORDER BY score LIMIT 10"
            ),
            params,
        )
    ).all()
    return len(rows)


async def naive_postgres(session: Any, q: Query) -> int:
    from sqlalchemy import text

    from bot.store.search.postgres import tsquery_sql

    params: dict[str, Any] = {}
    tsq = tsquery_sql(q, params)
    dates = ""
    if q.since:
        dates = " AND a.published_at >= :since"
        params["since"] = q.since
    rows = (
        await session.execute(
            text(
                f"SELECT a.id, a.title, ts_rank_cd(a.tsv, {tsq}) AS score FROM articles a"
                f" WHERE a.tsv @@ {tsq}{dates} ORDER BY score DESC LIMIT 10"
            ),
            params,
        )
    ).all()
    return len(rows)


COMPARE_WINDOW = 100


async def matches(url: str, built: Built, count: int) -> dict[str, list[str]]:
    """For every query of the mixes, the urls of its newest COMPARE_WINDOW matches (the window
    each backend ranks): the same on both backends when they match the same articles."""
    from bot.store.search import postgres as pg_backend
    from bot.store.search import sqlite as sqlite_backend

    engine = make_engine(url)
    backend = sqlite_backend if engine.dialect.name == "sqlite" else pg_backend
    found: dict[str, list[str]] = {}
    try:
        async with session_factory(engine)() as s:
            for name, texts in query_mixes(built.articles, count).items():
                for i, t in enumerate(texts):
                    hits = await backend.search(
                        s, parse_query(t, now=built.built_at), limit=COMPARE_WINDOW, offset=0, window=COMPARE_WINDOW
                    )
                    found[f"{name} #{i}: {t}"] = sorted(h.url or "" for h in hits)
    finally:
        await engine.dispose()
    return found


def compare(found: dict[str, dict[str, list[str]]]) -> None:
    lite, pg = found.get("sqlite"), found.get("postgres")
    if lite is None or pg is None:
        return
    differ = [q for q in lite if lite[q] != pg.get(q)]
    print(f"\nsame matches on both backends (the newest {COMPARE_WINDOW} of each query): "
          f"{len(lite) - len(differ)} of {len(lite)} queries")
    mixes: dict[str, list[int]] = {}
    for q in lite:
        mix = q.split(" #", 1)[0]
        mixes.setdefault(mix, [0, 0])[q in differ] += 1
    print("  " + ", ".join(f"{m} {same}/{same + diff}" for m, (same, diff) in mixes.items()))
    for q in differ[:10]:
        print(f"  differs: {q}: sqlite {len(lite[q])}, postgres {len(pg.get(q) or [])}, "
              f"only one side {len(set(lite[q]) ^ set(pg.get(q) or []))}")


async def run_queries(url: str, built: Built, count: int, baseline_count: int, backend: str) -> dict[str, Latency]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    mixes = query_mixes(built.articles, count)
    # as `newsbot run` does once started (bot/heap.py): this process's long-lived heap (the
    # vocabulary, the mixes) would otherwise make every full collection a 68 ms pause mid-query
    heap.settle()
    results: dict[str, Latency] = {}
    everything: list[float] = []
    try:
        print(f"\n{backend}: {built.articles:,} articles; warm cache (each query once untimed, then timed)")
        for name, texts in mixes.items():
            queries = [parse_query(t, now=built.built_at) for t in texts]
            async with sessions() as s:
                for q in queries:
                    await search(s, q)
            times: list[float] = []
            found = 0
            for q in queries:
                async with sessions() as s:
                    t0 = time.perf_counter()
                    page = await search(s, q)
                    times.append(time.perf_counter() - t0)
                    found += bool(page.hits)
            results[name] = Latency.of(times)
            everything += times
            print(f"  {name:<20} {results[name].row()}  with hits {found / len(queries):4.0%}", flush=True)
        results["overall"] = Latency.of(everything)
        print(f"  {'overall':<20} {results['overall'].row()}")
        if baseline_count:
            naive = naive_sqlite if backend == "sqlite" else naive_postgres
            print(f"  baseline: naive ranking (every match scored, then LIMIT 10), {baseline_count} queries a mix")
            for name in BASELINE_MIXES:
                queries = [parse_query(t, now=built.built_at) for t in mixes[name][:baseline_count]]
                async with sessions() as s:
                    for q in queries:
                        await naive(s, q)
                times = []
                for q in queries:
                    async with sessions() as s:
                        t0 = time.perf_counter()
                        await naive(s, q)
                        times.append(time.perf_counter() - t0)
                lat = Latency.of(times)
                bounded: list[float] = []
                for q in queries:
                    async with sessions() as s:
                        t0 = time.perf_counter()
                        await search(s, q)
                        bounded.append(time.perf_counter() - t0)
                ours = Latency.of(bounded)
                ratio = lat.p99 / ours.p99 if ours.p99 else math.nan
                print(f"  naive {name:<14} {lat.row()}  p99 {ratio:5.1f}x the bounded search ({ours.p99:.1f} ms)")
                results[f"naive {name}"] = lat
    finally:
        await engine.dispose()
    return results


# ------------------------------------------------------------------------------------------------ main


def cpu_check() -> float:
    """Seconds for ten million additions: a yardstick for runs taken at different times."""
    t0 = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--queries", type=int, default=100, help="timed queries per mix")
    ap.add_argument("--baseline-queries", type=int, default=20, help="naive-ranking queries per baseline mix (0: skip)")
    ap.add_argument("--keep", type=Path, help="build into / reuse PATH-sqlite.db and PATH-pg/ (default benchmarks/out/search-N)")
    ap.add_argument("--rebuild", action="store_true", help="build again even when a cached archive exists")
    ap.add_argument("--measured-inserts", type=int, default=20_000, help="articles INSERTed with the full-text index in place (the throughput figure)")
    ap.add_argument("--compare", action="store_true", help="with both backends: compare every query's matches")
    args = ap.parse_args(argv)
    found: dict[str, dict[str, list[str]]] = {}
    n = args.articles
    base = args.keep or OUT / f"search-{n}"
    base.parent.mkdir(parents=True, exist_ok=True)
    print(f"search benchmark: {n:,} articles, {os.cpu_count()} cores, cache {base}")
    print(f"machine speed now: {cpu_check():.2f} s for a fixed pure-Python loop; load average {os.getloadavg()[0]:.2f}"
          " (this shared machine's speed drifts by 2x within an hour: compare runs by this too)")
    if args.backend in ("sqlite", "both"):
        path = base.with_name(base.name + "-sqlite.db")
        built = None if args.rebuild else _read_meta(path, n)
        if built is None or not path.exists():
            print(f"building SQLite archive {path}")
            t0 = time.perf_counter()
            built = build_sqlite(path, n, args.measured_inserts)
            print(f"  built in {time.perf_counter() - t0:,.0f} s; {path.stat().st_size / 2**20:,.0f} MB")
        else:
            asyncio.run(_migrate(f"sqlite:///{path}"))  # a cached archive gets migrations added since
        print(f"sqlite insert throughput: {built.insert_rate:,.0f} articles/s ({built.insert_note})")
        asyncio.run(run_queries(f"sqlite:///{path}", built, args.queries, args.baseline_queries, "sqlite"))
        if args.compare:
            found["sqlite"] = asyncio.run(matches(f"sqlite:///{path}", built, args.queries))
    if args.backend in ("postgres", "both"):
        folder = base.with_name(base.name + "-pg")
        server = _pg_server_class()(folder)
        built = None if args.rebuild else _read_meta(folder, n)
        if built is None and (folder / "data").exists():
            shutil.rmtree(folder / "data")
        url = server.start()
        try:
            if built is None:
                print(f"building PostgreSQL archive {folder}")
                t0 = time.perf_counter()
                built = asyncio.run(build_postgres(url, n, folder, args.measured_inserts))
                print(f"  built in {time.perf_counter() - t0:,.0f} s")
            else:
                asyncio.run(_migrate(url))  # a cached archive gets migrations added since
            print(f"postgres insert throughput: {built.insert_rate:,.0f} articles/s ({built.insert_note})")
            asyncio.run(run_queries(url, built, args.queries, args.baseline_queries, "postgres"))
            if args.compare:
                found["postgres"] = asyncio.run(matches(url, built, args.queries))
        finally:
            server.stop()
    compare(found)
    print(f"\npeak RSS of the benchmark process: {rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
