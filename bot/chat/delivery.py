"""The delivery worker: outbox rows → chat, at least once, never twice where the platform can tell.

- Rows are leased (`status='sending'`, owner, expiry; `FOR UPDATE SKIP LOCKED` on PostgreSQL) so
  several workers never post the same row.
- Each channel has its own queue and pace (Slack ~1 message/s per channel), so one slow or
  rate-limited channel never holds up the others.
- 429 with Retry-After is waited out and retried; other transient failures back off exponentially
  in the database (the row goes back to `failed` with `next_attempt_at`).
- A permanent rejection (channel gone, bot removed) marks the row `dead`, records why, and pauses the
  channel (`Channel.paused`), so it is reported in `/news status` instead of retried forever.
- A row is marked just before it is handed to the adapter; a row found `sending` with that mark
  and an expired lease was interrupted between posting and recording (leased rows the dead
  worker never got to are known not posted and simply go out): before posting it again the
  worker asks the platform whether it went out. The uncertain rows queued
  for a channel are confirmed together, with one `find_posted_many(channel, keys, since)` (one
  history lookup covering their time window: Slack's history is rate-limited to about one call a
  minute). When the platform cannot be asked, nothing is posted blind: the rows wait, with a
  bounded backoff (the platform's Retry-After when it gives one), and never run out of attempts
  for it, since giving up would lose them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat.alerts import render_alert
from bot.chat.messages import DeliveryError, Result
from bot.chat.streams import render_article
from bot.runtime.backoff import backoff_s
from bot.runtime.metrics import BAD_INPUT, DELIVERIES, DELIVERIES_PENDING, DELIVERY_LATENCY
from bot.statements.figures import Figure
from bot.store.models import Channel, Delivery, utcnow

log = logging.getLogger(__name__)

UNCERTAIN = "outcome unknown: "  # last_error prefix: the post may have reached the platform
# last_error of a leased row not yet handed to the adapter: if its worker dies, the row is known
# not posted. Any other row left `sending` (marked UNCERTAIN just before its post) is in doubt.
LEASED = "leased, not yet posted"
POSTING = UNCERTAIN + "interrupted while posting"


@dataclass(frozen=True)
class DeliveryOptions:
    batch: int = 50
    max_inflight: int = 400
    lease_s: float = 600.0
    poll_s: float = 1.0
    max_attempts: int = 12
    backoff_base_s: float = 2.0
    backoff_max_s: float = 900.0
    max_inline_wait_s: float = 60.0  # a Retry-After up to this is waited out in place
    max_inline_retries: int = 6
    pace_s: Mapping[str, float] = field(default_factory=lambda: {"slack": 1.05, "discord": 0.3})
    stop_grace_s: float = 10.0
    check_backoff_max_s: float = 120.0  # an unanswered "was it posted?" is asked again within this
    check_margin_s: float = 120.0  # history is searched from this long before the oldest row
    clock_skew_s: float = 10.0  # ... and up to this long after this worker started (its clock vs the platform's)


@dataclass(frozen=True)
class Leased:
    id: int
    key: str
    kind: str
    payload: dict[str, Any]
    channel_id: int
    platform: str
    external_id: str
    attempts: int
    check_first: bool  # may already be posted: ask find_posted before posting
    created_at: datetime


def retry_after_s(attempts: int, opts: DeliveryOptions, rnd: Callable[[], float] = random.random) -> float:
    """The wait before a failed post's next attempt."""
    return backoff_s(attempts, opts.backoff_base_s, opts.backoff_max_s, rnd())


def render_row(kind: str, payload: dict[str, Any], figures: Sequence[Figure] = ()) -> Result:
    if kind == "alert":
        return render_alert(payload, figures)
    if kind == "digest":
        return Result.from_dict(payload)
    if kind == "article":
        return render_article(payload)
    raise ValueError(f"unknown outbox kind {kind!r}")


class DeliveryWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        adapters: Mapping[str, Any],
        *,
        figures: Sequence[Figure] = (),
        worker_id: str | None = None,
        options: DeliveryOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.adapters = dict(adapters)
        self.figures = tuple(figures)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:delivery"
        self.opts = options or DeliveryOptions()
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._queues: dict[int, asyncio.Queue[Leased]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._inflight: set[int] = set()
        self._next_ok: dict[int, float] = {}
        self._main: asyncio.Task[None] | None = None
        self._started = clock()
        self._uncertain_here: set[int] = set()  # rows whose post this worker itself lost track of

    # ------------------------------------------------------------ lifecycle

    def start(self) -> asyncio.Task[None]:
        self._main = asyncio.create_task(self.run(), name="delivery-worker")
        return self._main

    def notify(self) -> None:
        """Something was written to the outbox: look now instead of at the next poll."""
        self._wake.set()

    async def reclaim(self) -> int:
        """After a crash (kill -9, OOM, power): rows this worker's previous life left `sending`
        would wait out their lease (`lease_s`) before anyone retried them. Expire them now; they
        are re-leased with `check_first`, so `find_posted` still prevents a second post. On SQLite
        (one bot process per database) every `sending` row is a dead process's; on PostgreSQL only
        rows under our own id (same host and pid, as after a container restart)."""
        async with self.sessions.begin() as s:
            cond = Delivery.status == "sending"
            if s.get_bind().dialect.name != "sqlite":
                cond = and_(cond, Delivery.lease_owner == self.worker_id)
            result = await s.execute(
                update(Delivery).where(cond).values(lease_until=None).execution_options(synchronize_session=False)
            )
        n = int(getattr(result, "rowcount", 0) or 0)
        if n:
            log.warning("delivery: %d rows were interrupted mid-post by a crash; checking and retrying them", n)
        return n

    async def run(self) -> None:
        try:
            await self.reclaim()
        except Exception:
            log.exception("delivery: could not reclaim interrupted rows (their leases expire by themselves)")
        while not self._stopping:
            try:
                n = await self.lease_and_queue()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery: leasing failed; retrying")
                n = 0
            if n == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.opts.poll_s)

    async def stop(self) -> None:
        """Stop leasing, let in-flight posts finish (bounded), give queued rows back."""
        self._stopping = True
        self._wake.set()
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        for q in self._queues.values():
            q.put_nowait(_STOP)
        tasks = list(self._tasks.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self.opts.stop_grace_s)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        await self._release(sorted(self._inflight))

    async def drain(self, within_s: float = 30.0) -> None:
        """Deliver everything due now, then return (for `ask`-style one-shots and tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while loop.time() < deadline:
            n = await self.lease_and_queue()
            if n == 0 and not self._inflight:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("outbox not drained")

    # ------------------------------------------------------------ leasing

    async def lease_and_queue(self) -> int:
        if len(self._inflight) >= self.opts.max_inflight or not self.adapters:
            return 0
        leased = await self.lease(min(self.opts.batch, self.opts.max_inflight - len(self._inflight)))
        for row in leased:
            self._inflight.add(row.id)
            q = self._queues.get(row.channel_id)
            if q is None:
                q = self._queues[row.channel_id] = asyncio.Queue()
            task = self._tasks.get(row.channel_id)
            if task is None or task.done():
                self._tasks[row.channel_id] = asyncio.create_task(
                    self._channel_loop(row.channel_id, q), name=f"delivery-channel-{row.channel_id}"
                )
            q.put_nowait(row)
        return len(leased)

    async def lease(self, limit: int) -> list[Leased]:
        now = self.clock()
        async with self.sessions.begin() as s:
            due = or_(
                and_(Delivery.status.in_(("pending", "failed")), Delivery.next_attempt_at <= now),
                and_(Delivery.status == "sending", or_(Delivery.lease_until.is_(None), Delivery.lease_until < now)),
            )
            q = (
                select(Delivery.id, Delivery.status, Delivery.last_error)
                .join(Channel, Channel.id == Delivery.channel_id)
                .where(due, Channel.paused.is_(False), Channel.platform.in_(list(self.adapters)))
                .order_by(Delivery.id)
                .limit(limit)
            )
            if self._inflight:
                q = q.where(Delivery.id.notin_(list(self._inflight)))
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True, of=Delivery)
            picked = (await s.execute(q)).all()
            if not picked:
                return []
            ids = [r.id for r in picked]
            check = {
                r.id for r in picked
                if (r.status == "sending" and r.last_error != LEASED) or (r.last_error or "").startswith(UNCERTAIN)
            }
            lease = {"status": "sending", "lease_owner": self.worker_id,
                     "lease_until": now + timedelta(seconds=self.opts.lease_s), "attempts": Delivery.attempts + 1}
            for group, extra in ((sorted(check), {}), ([i for i in ids if i not in check], {"last_error": LEASED})):
                if group:
                    await s.execute(
                        update(Delivery).where(Delivery.id.in_(group)).values(**lease, **extra)
                        .execution_options(synchronize_session=False)
                    )
            rows = (
                await s.execute(
                    select(Delivery, Channel.platform, Channel.external_id)
                    .join(Channel, Channel.id == Delivery.channel_id)
                    .where(Delivery.id.in_(ids))
                    .order_by(Delivery.id)
                )
            ).all()
        return [
            Leased(d.id, d.idempotency_key, d.kind, dict(d.payload or {}), d.channel_id, platform, external_id,
                   d.attempts, d.id in check, d.created_at)
            for d, platform, external_id in rows
        ]

    async def _release(self, ids: list[int]) -> None:
        if not ids:
            return
        try:
            async with self.sessions.begin() as s:
                await s.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(ids), Delivery.status == "sending", Delivery.lease_owner == self.worker_id)
                    .values(status="pending", lease_owner=None, lease_until=None, attempts=Delivery.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.exception("delivery: could not release %d leased rows (they expire by themselves)", len(ids))
        self._inflight.difference_update(ids)

    # ------------------------------------------------------------ per channel

    async def _channel_loop(self, channel_id: int, q: asyncio.Queue[Leased]) -> None:
        backlog: list[Leased] = []
        while True:
            if not backlog:
                backlog.append(await q.get())
            while not q.empty():  # everything queued now: its uncertain rows are confirmed together
                backlog.append(q.get_nowait())
            stop = any(r is _STOP for r in backlog)
            backlog = [r for r in backlog if r is not _STOP]
            if stop and not backlog:
                return
            if any(r.check_first for r in backlog) and not self._stopping:
                backlog = await self._confirm(backlog)
            row = backlog.pop(0) if backlog else None
            if stop:
                q.put_nowait(_STOP)
            if row is None or self._stopping:
                continue  # left in _inflight: released by stop()
            try:
                await self._deliver(row)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery: row %s failed unexpectedly", row.id)
                await self._retry(row, "internal error (see logs)", None, certain=False)
            finally:
                if not self._stopping:
                    self._inflight.discard(row.id)
            if self._paused(channel_id):
                # Everything else queued for a channel that just went dead goes back to the outbox.
                rest: list[int] = [r.id for r in backlog]
                backlog = []
                while not q.empty():
                    nxt = q.get_nowait()
                    if nxt is not _STOP:
                        rest.append(nxt.id)
                await self._release(rest)

    async def _confirm(self, backlog: list[Leased]) -> list[Leased]:
        """Ask the platform once whether the backlog's uncertain rows went out.

        Found rows are recorded as sent; the others go on with `check_first` cleared (now known
        not posted). When the platform cannot answer, the uncertain rows are put back to wait
        (never posted blind) and only the certain ones go on.
        """
        uncertain = [r for r in backlog if r.check_first]
        first = uncertain[0]
        adapter = self.adapters[first.platform]
        since = min(r.created_at for r in uncertain) - timedelta(seconds=self.opts.check_margin_s)
        # A row an earlier life left uncertain was posted, if at all, before this worker started:
        # the window ends there, so what this life has posted since is not paged through.
        here = any(r.id in self._uncertain_here for r in uncertain)
        until = None if here else self._started + timedelta(seconds=self.opts.clock_skew_s)
        try:
            found = await find_posted_many(adapter, first.external_id, [r.key for r in uncertain], since, until)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
            for r in uncertain:
                await self._wait_to_confirm(r, f"cannot confirm whether it was posted: {exc}", retry_after)
                self._inflight.discard(r.id)
            return [r for r in backlog if not r.check_first]
        out: list[Leased] = []
        for r in backlog:
            receipt = found.get(r.key) if r.check_first else None
            self._uncertain_here.discard(r.id)
            if receipt is not None:
                DELIVERIES.labels(r.kind, "recovered").inc()
                await self._sent(r, receipt.message_id)
                self._inflight.discard(r.id)
            else:
                out.append(dataclasses.replace(r, check_first=False))
        return out

    def _paused(self, channel_id: int) -> bool:
        return self._next_ok.get(channel_id) == float("inf")

    async def _pace(self, row: Leased) -> None:
        loop = asyncio.get_running_loop()
        wait = self._next_ok.get(row.channel_id, 0.0) - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def _paced(self, row: Leased, extra: float = 0.0) -> None:
        loop = asyncio.get_running_loop()
        gap = max(self.opts.pace_s.get(row.platform, 0.0), extra)
        self._next_ok[row.channel_id] = loop.time() + gap

    async def _deliver(self, row: Leased) -> None:
        adapter = self.adapters[row.platform]
        try:
            result = render_row(row.kind, row.payload, self.figures)
        except Exception as exc:  # a payload nobody can render will never get better
            BAD_INPUT.labels("outbox").inc()
            await self._dead(row, f"cannot render: {type(exc).__name__}: {exc}", pause=False)
            return
        await self._mark_posting(row)
        attempt_inline = 0
        while True:
            await self._pace(row)
            started = asyncio.get_running_loop().time()
            try:
                receipt = await adapter.post(row.external_id, result, idempotency_key=row.key)
            except DeliveryError as exc:
                if exc.permanent:
                    self._next_ok[row.channel_id] = float("inf")
                    await self._dead(row, str(exc) or "rejected by the platform", pause=True)
                    return
                wait = exc.retry_after
                self._paced(row, wait or 0.0)
                if wait is not None and wait <= self.opts.max_inline_wait_s and attempt_inline < self.opts.max_inline_retries:
                    attempt_inline += 1
                    DELIVERIES.labels(row.kind, "rate_limited").inc()
                    log.info("delivery: %s rate limited on %s; retrying in %.1f s", row.key, row.platform, wait)
                    continue
                await self._retry(row, str(exc) or "temporary failure", wait, certain=True)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # timeouts, resets: the platform may or may not have it
                self._paced(row)
                await self._retry(row, f"{type(exc).__name__}: {exc}", None, certain=False)
                return
            self._paced(row)
            log.debug("delivery: %s posted in %.3f s", row.key, asyncio.get_running_loop().time() - started)
            await self._sent(row, receipt.message_id)
            return

    # ------------------------------------------------------------ recording

    async def _sent(self, row: Leased, message_id: str) -> None:
        now = self.clock()
        async with self.sessions.begin() as s:
            await s.execute(
                update(Delivery).where(Delivery.id == row.id)
                .values(status="sent", platform_message_id=str(message_id)[:100], sent_at=now, lease_owner=None,
                        lease_until=None, last_error=None)
                .execution_options(synchronize_session=False)
            )
        DELIVERIES.labels(row.kind, "delivered").inc()
        DELIVERY_LATENCY.labels(row.kind).observe(max(0.0, (now - row.created_at).total_seconds()))

    async def _retry(self, row: Leased, error: str, wait: float | None, *, certain: bool) -> None:
        if row.attempts >= self.opts.max_attempts:
            await self._dead(row, f"gave up after {row.attempts} attempts: {error}", pause=False)
            return
        delay = wait if wait is not None else retry_after_s(row.attempts, self.opts)
        message = error if certain else UNCERTAIN + error
        if not certain:
            self._uncertain_here.add(row.id)
        async with self.sessions.begin() as s:
            await s.execute(
                update(Delivery).where(Delivery.id == row.id)
                .values(status="failed", last_error=message[:2000], lease_owner=None, lease_until=None,
                        next_attempt_at=self.clock() + timedelta(seconds=delay))
                .execution_options(synchronize_session=False)
            )
        DELIVERIES.labels(row.kind, "retried").inc()
        log.warning("delivery: %s to %s:%s failed (%s); retry in %.0f s", row.key, row.platform, row.external_id,
                    error, delay)

    async def _mark_posting(self, row: Leased) -> None:
        """From here until it is recorded, the row may be on the platform: a crash leaves it in doubt."""
        async with self.sessions.begin() as s:
            await s.execute(
                update(Delivery).where(Delivery.id == row.id, Delivery.lease_owner == self.worker_id)
                .values(last_error=POSTING).execution_options(synchronize_session=False)
            )

    async def _wait_to_confirm(self, row: Leased, error: str, retry_after: float | None) -> None:
        """Put an uncertain row back, still uncertain, to be confirmed later; it never dies of this."""
        cap = self.opts.check_backoff_max_s
        delay = min(cap, retry_after) if retry_after is not None else min(cap, retry_after_s(row.attempts, self.opts))
        async with self.sessions.begin() as s:
            await s.execute(
                update(Delivery).where(Delivery.id == row.id)
                .values(status="failed", last_error=(UNCERTAIN + error)[:2000], lease_owner=None, lease_until=None,
                        attempts=Delivery.attempts - 1, next_attempt_at=self.clock() + timedelta(seconds=delay))
                .execution_options(synchronize_session=False)
            )
        DELIVERIES.labels(row.kind, "unconfirmed").inc()
        log.warning("delivery: %s to %s:%s waits %.0f s: %s", row.key, row.platform, row.external_id, delay, error)

    async def _dead(self, row: Leased, error: str, *, pause: bool) -> None:
        async with self.sessions.begin() as s:
            await s.execute(
                update(Delivery).where(Delivery.id == row.id)
                .values(status="dead", last_error=error[:2000], lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            if pause:
                await s.execute(
                    update(Channel).where(Channel.id == row.channel_id)
                    .values(paused=True, paused_reason=f"{utcnow():%Y-%m-%d %H:%M} UTC: {error}"[:2000])
                    .execution_options(synchronize_session=False)
                )
        DELIVERIES.labels(row.kind, "dead").inc()
        log.error("delivery: %s to %s:%s is dead: %s%s", row.key, row.platform, row.external_id, error,
                  " (channel paused)" if pause else "")


async def find_posted_many(
    adapter: Any, channel_id: str, keys: Sequence[str], since: datetime, until: datetime | None = None
) -> dict[str, Any]:
    """{key: receipt} for the keys already posted in the channel between `since` and `until` (None:
    now): one history lookup where the adapter offers `find_posted_many`, else one `find_posted`
    per key."""
    many = getattr(adapter, "find_posted_many", None)
    if many is not None:
        return dict(await many(channel_id, list(keys), since, until))
    out: dict[str, Any] = {}
    for key in keys:
        receipt = await adapter.find_posted(channel_id, key)
        if receipt is not None:
            out[key] = receipt
    return out


async def pending_count(session: AsyncSession) -> int:
    n = int(
        (await session.execute(
            select(func.count()).select_from(Delivery).where(Delivery.status.in_(("pending", "sending", "failed")))
        )).scalar() or 0
    )
    DELIVERIES_PENDING.set(n)
    return n


_STOP: Any = object()
