"""The delivery worker through a real loopback chat API: 429s, 5xx, dead channels, crash recovery.

`LoopAdapter` implements the Adapter protocol over HTTP to a small chat server on 127.0.0.1 that
keeps messages with their idempotency keys (as Slack keeps message metadata) and fails on demand.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.base import Adapter, CommandHandler, DeliveryError, PostReceipt
from bot.chat.alerts import alert_line, render_alert
from bot.chat.delivery import DeliveryOptions, DeliveryWorker, retry_after_s
from bot.chat.messages import Context, Result
from bot.chat.plaintext import render_text
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.config import AppConfig
from bot.store.models import Channel, Delivery, utcnow

PLATFORM = "loop"
OPTS = DeliveryOptions(pace_s={PLATFORM: 0.0}, poll_s=0.05, backoff_base_s=0.01, max_attempts=4)


@dataclass
class ChatServer:
    """A chat API: POST /post, GET /find; queued failures per channel."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    gone: set[str] = field(default_factory=set)
    calls: int = 0
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/post", self.post)
        app.router.add_get("/find", self.find)
        return app

    async def post(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.json()
        channel = body["channel"]
        if channel in self.gone:
            return web.json_response({"ok": False, "error": "channel_not_found"}, status=404)
        if self.failures[channel]:
            status = self.failures[channel].pop(0)
            headers = {"Retry-After": "0.05"} if status == 429 else {}
            return web.json_response({"ok": False, "error": "try later"}, status=status, headers=headers)
        msg = {"id": str(next(self.ids)), **body}
        self.messages.append(msg)
        return web.json_response({"ok": True, "id": msg["id"]})

    async def find(self, request: web.Request) -> web.Response:
        for m in self.messages:
            if m["channel"] == request.query["channel"] and m["key"] == request.query["key"]:
                return web.json_response({"id": m["id"]})
        return web.json_response({}, status=404)

    def keys(self, channel: str) -> list[str]:
        return [m["key"] for m in self.messages if m["channel"] == channel]


class LoopAdapter:
    """The Adapter protocol over real HTTP; maps statuses the way the Slack/Discord adapters do."""

    platform = PLATFORM

    def __init__(self, base: str) -> None:
        self.base = base
        self.session: aiohttp.ClientSession | None = None

    async def start(self, handle: CommandHandler) -> None:
        self.session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def post(self, channel_id: str, result: Result, *, idempotency_key: str) -> PostReceipt:
        assert self.session is not None
        async with self.session.post(f"{self.base}/post", json={"channel": channel_id, "key": idempotency_key,
                                                                  "text": render_text(result)}) as resp:
            body = await resp.json()
            if resp.status == 429:
                raise DeliveryError("rate limited", retry_after=float(resp.headers["Retry-After"]))
            if resp.status == 404:
                raise DeliveryError(body["error"], permanent=True)
            if resp.status >= 500:
                raise DeliveryError(f"HTTP {resp.status}")
            return PostReceipt(body["id"])

    async def find_posted(self, channel_id: str, idempotency_key: str) -> PostReceipt | None:
        assert self.session is not None
        async with self.session.get(f"{self.base}/find", params={"channel": channel_id, "key": idempotency_key}) as r:
            return PostReceipt((await r.json())["id"]) if r.status == 200 else None


@pytest.fixture
async def chat() -> AsyncIterator[tuple[ChatServer, LoopAdapter]]:
    server = ChatServer()
    ts = TestServer(server.app(), host="127.0.0.1")
    await ts.start_server()
    adapter = LoopAdapter(str(ts.make_url("")).rstrip("/"))
    await adapter.start(_no_commands)
    try:
        yield server, adapter
    finally:
        await adapter.stop()
        await ts.close()


async def _no_commands(text: str, ctx: Context) -> Result:
    raise AssertionError("no commands here")


def payload(n: int) -> dict[str, Any]:
    return {"statement_id": n, "speaker": "Mark Rutte", "text": f"statement number {n} is irreversible",
            "kind": "direct", "article_id": n, "title": f"Story {n}", "url": f"https://news.example/{n}",
            "outlet": "Reuters", "published": "2025-06-09T14:02:00+00:00", "outlets": 4, "sources": 5,
            "topics": ["nato"]}


async def outbox(sessions: async_sessionmaker[AsyncSession], channel: str, n: int, **row: Any) -> int:
    async with sessions.begin() as s:
        ch = (await s.execute(select(Channel).where(Channel.external_id == channel))).scalar_one_or_none()
        if ch is None:
            ch = Channel(platform=PLATFORM, external_id=channel)
            s.add(ch)
            await s.flush()
        for i in range(n):
            s.add(Delivery(idempotency_key=f"alert:{channel}:{i}", channel_id=ch.id, kind="alert",
                           payload=payload(i), **row))
        return ch.id


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with sessions() as s:
        return list((await s.execute(select(Delivery).order_by(Delivery.id))).scalars())


def test_alert_line_reads_like_a_wire_alert(app_config: AppConfig) -> None:
    line = alert_line(payload(1), app_config.figure_list())
    assert line == "Rutte: “statement number 1 is irreversible” — Reuters, 2025-06-09 14:02, also reported by 3 outlets"
    r = render_alert(payload(1), app_config.figure_list())
    assert r.link == "https://news.example/1" and r.kind == "alert" and not r.ephemeral
    reported = alert_line({**payload(2), "kind": "reported", "outlets": 1, "outlet": None, "published": None})
    assert reported == "Mark Rutte (paraphrased): statement number 2 is irreversible"
    assert alert_line({}) == "Someone: “”"  # junk payloads still render


def test_backoff_grows_and_is_capped() -> None:
    opts = DeliveryOptions(backoff_base_s=2, backoff_max_s=60)
    assert retry_after_s(1, opts, lambda: 1.0) == 2 and retry_after_s(3, opts, lambda: 1.0) == 8
    assert retry_after_s(30, opts, lambda: 1.0) == 60 and retry_after_s(3, opts, lambda: 0.0) == 4


async def test_exactly_once_through_429_and_5xx(
    sessions: async_sessionmaker[AsyncSession], chat: tuple[ChatServer, LoopAdapter], app_config: AppConfig
) -> None:
    server, adapter = chat
    await outbox(sessions, "C1", 6)
    await outbox(sessions, "C2", 3)
    server.failures["C1"] = [429, 429, 503, 429]
    server.failures["C2"] = [502]
    # The clock runs an hour ahead so backed-off rows are due again at once.
    worker = DeliveryWorker(sessions, {PLATFORM: adapter}, figures=app_config.figure_list(), options=OPTS,
                            clock=lambda: utcnow() + timedelta(hours=1))
    await worker.drain()
    assert sorted(server.keys("C1")) == [f"alert:C1:{i}" for i in range(6)]
    assert sorted(server.keys("C2")) == [f"alert:C2:{i}" for i in range(3)]
    got = await rows(sessions)
    assert {r.status for r in got} == {"sent"} and all(r.platform_message_id for r in got)
    first = next(m for m in server.messages if m["key"] == "alert:C1:0")
    assert first["text"].startswith("Rutte: “statement number 0 is irreversible” — Reuters")
    await worker.drain()  # nothing left: nothing posted again
    assert len(server.messages) == 9


async def test_transient_failure_is_retried_later_not_lost(sessions: async_sessionmaker[AsyncSession],
                                                           chat: tuple[ChatServer, LoopAdapter]) -> None:
    server, adapter = chat
    await outbox(sessions, "C1", 1)
    server.failures["C1"] = [503]
    now = [utcnow()]
    worker = DeliveryWorker(sessions, {PLATFORM: adapter}, options=OPTS, clock=lambda: now[0])
    await worker.drain()
    [row] = await rows(sessions)
    assert (row.status, row.attempts) == ("failed", 1) and "503" in (row.last_error or "")
    assert row.next_attempt_at > now[0]
    now[0] += timedelta(minutes=5)
    await worker.drain()
    [row] = await rows(sessions)
    assert row.status == "sent" and server.keys("C1") == ["alert:C1:0"]


async def test_permanent_rejection_marks_dead_and_pauses_channel(
    sessions: async_sessionmaker[AsyncSession], chat: tuple[ChatServer, LoopAdapter], app_config: AppConfig
) -> None:
    server, adapter = chat
    await outbox(sessions, "GONE", 3)
    await outbox(sessions, "OK", 1)
    server.gone.add("GONE")
    worker = DeliveryWorker(sessions, {PLATFORM: adapter}, options=OPTS)
    await worker.drain()
    by_key = {r.idempotency_key: r for r in await rows(sessions)}
    assert by_key["alert:OK:0"].status == "sent"
    assert by_key["alert:GONE:0"].status == "dead" and by_key["alert:GONE:0"].last_error == "channel_not_found"
    assert {by_key[f"alert:GONE:{i}"].status for i in (1, 2)} == {"pending"}  # kept, not retried forever
    calls = server.calls
    await worker.drain()
    assert server.calls == calls  # a paused channel is not tried again
    async with sessions() as s:
        ch = (await s.execute(select(Channel).where(Channel.external_id == "GONE"))).scalar_one()
    assert ch.paused and "channel_not_found" in (ch.paused_reason or "")
    status = render_text(await handle("status", Context("console", "console"), Deps.build(sessions, app_config)))
    assert "dead: 1" in status and "channel_not_found" in status


async def test_crash_between_post_and_record_does_not_post_twice(
    sessions: async_sessionmaker[AsyncSession], chat: tuple[ChatServer, LoopAdapter]
) -> None:
    server, adapter = chat
    expired = utcnow() - timedelta(minutes=1)
    await outbox(sessions, "C1", 2, status="sending", attempts=1, lease_owner="dead-worker", lease_until=expired)
    # Row 0 reached the platform before the crash; row 1 did not.
    await adapter.post("C1", Result(kind="alert", title="x"), idempotency_key="alert:C1:0")
    worker = DeliveryWorker(sessions, {PLATFORM: adapter}, options=OPTS)
    await worker.drain()
    assert sorted(server.keys("C1")) == ["alert:C1:0", "alert:C1:1"]
    got = await rows(sessions)
    assert [r.status for r in got] == ["sent", "sent"] and got[0].platform_message_id == server.messages[0]["id"]


async def test_live_lease_is_not_stolen_and_stop_gives_rows_back(
    sessions: async_sessionmaker[AsyncSession], chat: tuple[ChatServer, LoopAdapter]
) -> None:
    server, adapter = chat
    later = utcnow() + timedelta(minutes=5)
    await outbox(sessions, "C1", 1, status="sending", lease_owner="other", lease_until=later)
    worker = DeliveryWorker(sessions, {PLATFORM: adapter}, options=OPTS)
    await worker.drain()
    assert server.messages == []
    # A worker stopped with leased rows hands them back as pending.
    await outbox(sessions, "C2", 1)
    w2 = DeliveryWorker(sessions, {}, options=OPTS)
    w2.adapters = {PLATFORM: adapter}
    leased = await w2.lease(10)
    assert [r.key for r in leased] == ["alert:C2:0"]
    w2._inflight.update(r.id for r in leased)
    await w2.stop()
    by_key = {r.idempotency_key: r for r in await rows(sessions)}
    assert by_key["alert:C2:0"].status == "pending" and by_key["alert:C2:0"].lease_owner is None


async def test_unrenderable_row_is_dead_not_retried(sessions: async_sessionmaker[AsyncSession],
                                                    chat: tuple[ChatServer, LoopAdapter]) -> None:
    server, adapter = chat
    cid = await outbox(sessions, "C1", 0)
    async with sessions.begin() as s:
        s.add(Delivery(idempotency_key="weird:1", channel_id=cid, kind="weird", payload={}))
    await DeliveryWorker(sessions, {PLATFORM: adapter}, options=OPTS).drain()
    [row] = await rows(sessions)
    assert row.status == "dead" and "cannot render" in (row.last_error or "") and server.calls == 0


def test_loop_adapter_satisfies_protocol() -> None:
    adapter: Adapter = LoopAdapter("http://127.0.0.1:1")
    assert adapter.platform == PLATFORM
