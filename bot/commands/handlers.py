"""One async function per `/news` subcommand: Command + Context + Deps → Result.

The handlers read the archive and write subscriptions and chat feeds; they know nothing of any
platform. Lists are paged (`page:N`, with the next page's command in `Result.page`), never cut.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat.channels import Interest, get_or_create_channel, set_interest
from bot.chat.messages import Context, Item, Page, Result, Section
from bot.commands.figure_lookup import FigureIndex
from bot.commands.parser import SPECS, Command, help_lines, usage_for
from bot.config import AppConfig
from bot.store.models import Article, Channel, Delivery, Feed, IngestCycle, Statement, Subscription
from bot.store.search.query import QueryError, parse_time

log = logging.getLogger(__name__)

DEFAULT_DIGEST_CRON = "0 8 * * *"
TIMELINE_WEEKS = 8
TIMELINE_SCAN = 3000  # newest sources looked at for the per-week timeline
QUOTE_CLIP = 400


@dataclass
class Deps:
    """What the handlers need from the running bot; tests build one over a real database."""

    sessions: async_sessionmaker[AsyncSession]
    config: AppConfig
    figures: FigureIndex
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    page_size: int = 5
    # Called after a subscription changes, so the app re-reads digest schedules.
    on_subscriptions_changed: Callable[[], Awaitable[None]] | None = None
    # Extra lines for `status` from the running app (adapters connected, worker state).
    runtime_status: Callable[[], dict[str, str]] | None = None
    allow_private_feeds: bool = False  # NEWSBOT_ALLOW_PRIVATE_FEEDS: feeds on loopback/private addresses

    @classmethod
    def build(cls, sessions: async_sessionmaker[AsyncSession], config: AppConfig, **kw: Any) -> Deps:
        return cls(sessions=sessions, config=config, figures=FigureIndex(config.figure_list()), **kw)


Handler = Callable[[Command, Context, Deps], Awaitable[Result]]


# ---------------------------------------------------------------- small pure helpers


def clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def when(dt: datetime | None) -> str | None:
    """A date, or date and time when the time is known (midnight means 'date only' from feeds/seeds)."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%d}" if (dt.hour, dt.minute) == (0, 0) else f"{dt:%Y-%m-%d %H:%M} UTC"


def corroboration(kind: str, outlets: int) -> str:
    try:  # the statements store owns the wording; fall back while it is absent
        from bot.archive.statement_store import corroboration as owned

        return owned(kind, outlets)
    except ImportError:  # pragma: no cover - depends on the tree
        how = "direct quote" if kind == "direct" else "paraphrase"
        return f"single source, {how}" if outlets <= 1 else f"{how}, reported by {outlets} outlets"


@dataclass(frozen=True)
class Source:
    """The few article columns a statement line shows (never the article text)."""

    outlet: str | None
    url: str | None
    title: str | None
    published_at: datetime | None


SOURCE_COLUMNS = (Article.outlet, Article.url, Article.title, Article.published_at)


def statement_item(st: Statement, art: Source | None) -> Item:
    quote = f"“{clip(st.text, QUOTE_CLIP)}”" if st.kind == "direct" else clip(st.text, QUOTE_CLIP)
    published = art.published_at if art is not None and art.published_at else st.first_seen_at
    meta = " · ".join(
        p for p in ((art.outlet if art else None), when(published), corroboration(st.kind, st.outlets)) if p
    )
    headline = clip(art.title, 200) if art is not None and art.title else None
    return Item(title=quote, url=art.url if art else None, meta=meta, body=headline)


def page_of(cmd: Command, shown: int, size: int, has_more: bool) -> Page | None:
    if not has_more:
        return None
    base = " ".join(t for t in [cmd.name, cmd.rest] if t)
    base = re.sub(r"\s*\bpage:\S+", "", base).strip()
    return Page(next_command=f"{base} page:{cmd.page + 1}", shown=shown, offset=(cmd.page - 1) * size)


def not_tracked(written: str, suggestions: tuple[str, ...], deps: Deps, kind: str) -> Result:
    if suggestions:
        return Result(
            kind=kind, ok=False, title=f"No tracked figure called “{clip(written, 60)}”",
            text=f"Did you mean {suggestions[0]}?", suggestions=suggestions,
        )
    names = ", ".join(f.name for f in deps.figures.figures[:12])
    return Result(kind=kind, ok=False, title=f"No tracked figure called “{clip(written, 60)}”",
                  text=f"Tracked figures: {names}" if names else "No figures are tracked.")


def topic_clause(topic: str) -> Any:
    # Topics are stored space-separated; padding makes "nato" not match "natoish".
    return (literal(" ") + Article.topics + literal(" ")).like(f"% {topic.lower()} %")


def parse_since(value: str | None, now: datetime) -> datetime | None:
    return parse_time(value, now) if value else None


# ---------------------------------------------------------------- search


async def search_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    from bot.store.search import search

    size = deps.page_size
    offset = (cmd.page - 1) * size
    async with deps.sessions() as s:
        page = await search(s, cmd.rest, limit=size, offset=offset)
    described = page.query.describe() or cmd.rest
    if page.query.is_empty:
        return usage_for("search", "no words left to search for").to_result()
    items = tuple(
        Item(
            title=h.title,
            url=h.url,
            meta=" · ".join(p for p in (h.outlet, when(h.published)) if p) or None,
            body=h.snippet or None,
        )
        for h in page.hits
    )
    notes = "; ".join(page.query.notes) or None
    if not items:
        text = f"No matches for {described}." if offset == 0 else f"No more matches for {described}."
        return Result(kind="search", title=f"Search: {described}", text=text, footer=notes)
    return Result(
        kind="search",
        title=f"Search: {described}",
        sections=(Section(items=items),),
        page=page_of(cmd, len(items), size, page.has_more),
        footer=notes,
    )


# ---------------------------------------------------------------- quotes / figure


async def _speaker_name(session: AsyncSession, written: str, deps: Deps) -> tuple[str | None, tuple[str, ...]]:
    """Canonical figure name, or an untracked speaker as stored; else suggestions."""
    res = deps.figures.resolve(written, deps.now().date())
    if res.figure is not None:
        return res.figure.name, ()
    stored = (
        await session.execute(
            # Exact forms only: the speaker index answers, no scan of every statement.
            select(Statement.speaker)
            .where(Statement.speaker.in_({written.strip(), written.strip().title()}))
            .limit(1)
        )
    ).scalar_one_or_none()
    if stored:
        return stored, ()
    return None, res.suggestions


async def quotes_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    now = deps.now()
    since = parse_since(cmd.options.get("since"), now)
    topic = cmd.options.get("topic", "").strip().lower() or None
    kind = cmd.options.get("kind", "").strip().lower() or None
    if kind not in (None, "direct", "reported"):
        return usage_for("quotes", "kind: is direct or reported").to_result()
    size = deps.page_size
    offset = (cmd.page - 1) * size
    async with deps.sessions() as s:
        name, suggestions = await _speaker_name(s, cmd.text, deps)
        if name is None:
            return not_tracked(cmd.text, suggestions, deps, "quotes")
        q = (
            select(Statement, *SOURCE_COLUMNS)
            .outerjoin(Article, Article.id == Statement.first_article_id)
            .where(Statement.speaker == name)
        )
        if since is not None:
            q = q.where(func.coalesce(Article.published_at, Statement.first_seen_at) >= since)
        if topic:
            q = q.where(topic_clause(topic))
        if kind:
            q = q.where(Statement.kind == kind)
        rows = (
            await s.execute(q.order_by(Statement.first_seen_at.desc(), Statement.id.desc()).limit(size + 1).offset(offset))
        ).all()
    filters = " ".join(p for p in (f"since:{cmd.options['since']}" if since else "", f"topic:{topic}" if topic else "",
                                   f"kind:{kind}" if kind else "") if p)
    title = f"Quotes: {name}" + (f" ({filters})" if filters else "")
    items = tuple(statement_item(row[0], Source(*row[1:])) for row in rows[:size])
    if not items:
        return Result(kind="quotes", title=title, text="No statements found." if offset == 0 else "No more statements.")
    return Result(kind="quotes", title=title, sections=(Section(items=items),),
                  page=page_of(cmd, len(items), size, len(rows) > size))


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def timeline_text(dates: list[datetime], weeks: int = TIMELINE_WEEKS) -> str:
    """Quotes per week as a small bar chart, ending at the newest week with quotes (pure)."""
    if not dates:
        return "No quotes yet."
    counts = Counter(week_start(d.astimezone(UTC).date()) for d in dates)
    last = max(counts)
    rows = []
    top = max(counts.values())
    for i in range(weeks - 1, -1, -1):
        wk = last - timedelta(weeks=i)
        n = counts.get(wk, 0)
        bar = "█" * max(1 if n else 0, round(20 * n / top))
        rows.append(f"{wk:%Y-%m-%d}  {bar} {n}")
    return "\n".join(rows)


async def figure_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    res = deps.figures.resolve(cmd.text, deps.now().date())
    if res.figure is None:
        return not_tracked(cmd.text, res.suggestions, deps, "figure")
    fig = res.figure
    async with deps.sessions() as s:
        total = int(
            (await s.execute(select(func.count()).select_from(Statement).where(Statement.speaker == fig.name))).scalar()
            or 0
        )
        recent = (
            await s.execute(
                select(Statement, *SOURCE_COLUMNS)
                .outerjoin(Article, Article.id == Statement.first_article_id)
                .where(Statement.speaker == fig.name)
                .order_by(Statement.first_seen_at.desc(), Statement.id.desc())
                .limit(3)
            )
        ).all()
        # Quotes per week: each statement counts the articles carrying it (Statement.sources), in the
        # week it was first seen. Index-only on (speaker, first_seen_at); no join, fast at 1M articles.
        latest = (
            await s.execute(select(func.max(Statement.first_seen_at)).where(Statement.speaker == fig.name))
        ).scalar()
        dates: list[datetime] = []
        if latest is not None:
            for seen, sources in (
                await s.execute(
                    select(Statement.first_seen_at, Statement.sources)
                    .where(Statement.speaker == fig.name,
                           Statement.first_seen_at >= latest - timedelta(weeks=TIMELINE_WEEKS))
                    .limit(TIMELINE_SCAN)
                )
            ).all():
                dates += [seen] * max(1, min(int(sources or 1), 50))
    titles = deps.figures.current_titles(fig, deps.now().date())
    who = "; ".join(titles[:3]) if titles else "tracked figure"
    aliases = ", ".join(a for a in fig.aliases[:6])
    about = Section(
        items=(
            Item(
                title=fig.name,
                meta=who,
                fields=tuple(
                    p for p in (("Also written", aliases) if aliases else None, ("Statements", str(total))) if p
                ),
            ),
        )
    )
    sections = [about]
    if recent:
        sections.append(Section(heading="Recent statements", items=tuple(statement_item(r[0], Source(*r[1:])) for r in recent)))
    sections.append(Section(heading="Quoted per week (articles)", text=timeline_text(dates)))
    return Result(kind="figure", title=f"Figure: {fig.name}", sections=tuple(sections),
                  footer=f"more: quotes {fig.name}" if total > 3 else None)


# ---------------------------------------------------------------- digest


async def digest_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    from bot.chat.digests import build_digest

    now = deps.now()
    topics = [t.lower() for t in cmd.args] + ([cmd.options["topic"].lower()] if cmd.options.get("topic") else [])
    unknown = [t for t in topics if t not in deps.config.topics]
    if unknown:
        known = ", ".join(deps.config.topics) or "none configured"
        return usage_for("digest", f"unknown topic '{clip(unknown[0], 40)}' (topics: {known})").to_result()
    since = parse_since(cmd.options.get("since") or "24h", now)
    assert since is not None
    async with deps.sessions() as s:
        return await build_digest(s, deps.config, topics=topics or list(deps.config.topics), since=since, until=now)


# ---------------------------------------------------------------- subscribe / unsubscribe


@dataclass(frozen=True)
class Target:
    kind: str  # figure | topic | keyword
    value: str


def _target(cmd: Command, deps: Deps) -> Target | Result | None:
    """What a subscribe/unsubscribe names; a Result when it cannot be told; None when nothing."""
    kind = next((k for k in ("figure", "topic", "keyword") if cmd.options.get(k)), None)
    written = cmd.options[kind] if kind else cmd.text
    if not written:
        return None
    written = clip(written, 100)
    if kind in (None, "figure"):
        res = deps.figures.resolve(written, deps.now().date())
        if res.figure is not None:
            return Target("figure", res.figure.name)
        if kind == "figure":
            return not_tracked(written, res.suggestions, deps, cmd.name)
        if written.lower() in deps.config.topics:
            return Target("topic", written.lower())
        if res.suggestions and len(written.split()) == 1:
            return not_tracked(written, res.suggestions, deps, cmd.name)
        return Target("keyword", written.lower())
    if kind == "topic":
        if written.lower() not in deps.config.topics:
            known = ", ".join(deps.config.topics) or "none configured"
            return usage_for(cmd.name, f"unknown topic '{written}' (topics: {known})").to_result()
        return Target("topic", written.lower())
    if len(written.strip()) < 2:
        return usage_for(cmd.name, "a keyword needs at least 2 characters").to_result()
    return Target("keyword", written.strip().lower())


def _on_off(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("on", "yes", "true", "1", ""):
        return True
    if v in ("off", "no", "false", "0", "none"):
        return False
    raise ValueError(value)


def validate_schedule(cron: str, tz: str) -> str | None:
    """None when APScheduler accepts the cron and time zone, else the problem."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{clip(tz, 40)}'"
    if len(cron.split()) != 5:
        return f"'{clip(cron, 40)}' is not a 5-field cron schedule like \"0 8 * * *\""
    try:
        CronTrigger.from_crontab(cron, timezone=tz)
    except (ValueError, TypeError) as exc:
        return f"bad cron schedule '{clip(cron, 40)}': {clip(str(exc), 80)}"
    return None


def default_alerts(given: bool | None, digest_on: bool | None, existing: bool | None, *, bulk: bool) -> bool:
    """Alerts unless told otherwise; asking only for a digest does not switch alerts on (pure)."""
    if given is not None:
        return given
    if bulk:  # `subscribe digest:…` for every topic keeps whatever alerts were there
        return bool(existing)
    if existing is not None:
        return existing if digest_on is not None else True
    return digest_on is None


def describe_sub(sub: Subscription) -> str:
    what = {"figure": "", "topic": "topic ", "keyword": "keyword "}.get(sub.kind, "") + sub.value
    how = []
    if sub.alerts:
        how.append("alerts")
    if sub.digest:
        how.append(f"digest {sub.digest_cron or DEFAULT_DIGEST_CRON} ({sub.timezone or 'UTC'})")
    src = " [config]" if sub.origin == "config" else ""
    return f"{what}: {', '.join(how) or 'nothing'}{src}"


async def _list_subs(s: AsyncSession, ctx: Context) -> Result:
    channel = (
        await s.execute(select(Channel).where(Channel.platform == ctx.platform, Channel.external_id == ctx.channel_id))
    ).scalar_one_or_none()
    subs = []
    if channel is not None:
        subs = list(
            (await s.execute(select(Subscription).where(Subscription.channel_id == channel.id).order_by(Subscription.id)))
            .scalars()
        )
    if not subs:
        return Result(kind="subscribe", title="Subscriptions", text=f"This channel has none. Usage: {SPECS['subscribe'].usage}")
    paused = f"Paused: {channel.paused_reason}" if channel is not None and channel.paused else None
    return Result(kind="subscribe", title="Subscriptions", text=paused,
                  sections=(Section(items=tuple(Item(title=describe_sub(x)) for x in subs)),))


async def subscribe_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    try:
        alerts_opt = _on_off(cmd.options.get("alerts"))
    except ValueError:
        return usage_for("subscribe", "alerts: is on or off").to_result()
    digest_opt = cmd.options.get("digest")
    tz = cmd.options.get("tz") or cmd.options.get("timezone") or None
    cron: str | None = None
    digest_on: bool | None = None
    if digest_opt is not None:
        v = digest_opt.strip().lower()
        if v in ("off", "no", "none", "false", "0"):
            digest_on = False
        else:
            digest_on = True
            cron = DEFAULT_DIGEST_CRON if v in ("", "on", "yes", "daily", "true", "1") else digest_opt.strip()
    target = _target(cmd, deps)
    if isinstance(target, Result):
        return target
    async with deps.sessions.begin() as s:
        if target is None and digest_on is None and alerts_opt is None:
            return await _list_subs(s, ctx)
        targets = [target] if target else [Target("topic", t) for t in deps.config.topics]
        if not targets:
            return usage_for("subscribe", "name a figure, topic or keyword").to_result()
        channel = await get_or_create_channel(s, ctx.platform, ctx.channel_id, ctx.channel_name)
        done = []
        for t in targets:
            existing = (
                await s.execute(
                    select(Subscription).where(Subscription.channel_id == channel.id, Subscription.kind == t.kind,
                                               Subscription.value == t.value)
                )
            ).scalar_one_or_none()
            alerts = default_alerts(alerts_opt, digest_on, existing.alerts if existing is not None else None,
                                    bulk=target is None)
            digest = digest_on if digest_on is not None else bool(existing and existing.digest)
            sub_cron = cron or (existing.digest_cron if existing is not None else None) or (DEFAULT_DIGEST_CRON if digest else None)
            sub_tz = tz or (existing.timezone if existing is not None else None) or ("UTC" if digest else None)
            if digest and sub_cron:
                problem = validate_schedule(sub_cron, sub_tz or "UTC")
                if problem:
                    return usage_for("subscribe", problem).to_result()
            if not alerts and not digest:
                return usage_for("subscribe", "that would turn off both alerts and the digest: use unsubscribe").to_result()
            sub = await set_interest(
                s, channel,
                Interest(t.kind, t.value, alerts=alerts, digest=digest, digest_cron=sub_cron if digest else None,
                         timezone=sub_tz if digest else None),
                origin="chat",
            )
            done.append(describe_sub(sub))
        if channel.paused and alerts_opt:
            channel.paused = False
            channel.paused_reason = None
    if deps.on_subscriptions_changed is not None:
        await deps.on_subscriptions_changed()
    return Result(kind="subscribe", title="Subscribed", ephemeral=False,
                  sections=(Section(items=tuple(Item(title=d) for d in done)),))


async def unsubscribe_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    all_ = cmd.text.lower() == "all" and not any(cmd.options.get(k) for k in ("figure", "topic", "keyword"))
    target = None if all_ else _target(cmd, deps)
    if isinstance(target, Result):
        return target
    if target is None and not all_:
        return usage_for("unsubscribe", "name what to stop (or `all`)").to_result()
    async with deps.sessions.begin() as s:
        channel = (
            await s.execute(select(Channel).where(Channel.platform == ctx.platform, Channel.external_id == ctx.channel_id))
        ).scalar_one_or_none()
        q = select(Subscription).where(Subscription.channel_id == (channel.id if channel else -1))
        if target is not None:
            q = q.where(Subscription.kind == target.kind, func.lower(Subscription.value) == target.value.lower())
        subs = list((await s.execute(q)).scalars())
        if not subs:
            what = "anything" if target is None else f"{target.kind} {target.value}"
            return Result(kind="unsubscribe", ok=False, title="Not subscribed",
                          text=f"This channel is not subscribed to {what}.")
        await s.execute(delete(Subscription).where(Subscription.id.in_([x.id for x in subs])))
    if deps.on_subscriptions_changed is not None:
        await deps.on_subscriptions_changed()
    from_config = [x for x in subs if x.origin == "config"]
    note = "Some came from the config file and return at the next restart unless removed there." if from_config else None
    return Result(kind="unsubscribe", title="Unsubscribed", ephemeral=False, text=note,
                  sections=(Section(items=tuple(Item(title=f"{x.kind} {x.value}") for x in subs)),))


# ---------------------------------------------------------------- feeds


def feed_state(feed: Feed, now: datetime) -> str:
    if not feed.enabled:
        return "disabled"
    if feed.consecutive_failures:
        return f"failing ({feed.consecutive_failures}×)"
    if feed.last_success_at is None:
        return "not polled yet"
    return "ok"


def feed_item(feed: Feed, now: datetime) -> Item:
    fields: list[tuple[str, str]] = [("state", feed_state(feed, now))]
    if feed.last_success_at:
        fields.append(("last success", when(feed.last_success_at) or ""))
    if feed.last_error and feed.consecutive_failures:
        fields.append(("error", clip(feed.last_error, 200)))
    meta = " · ".join(p for p in (f"#{feed.id}", feed.topics or None, feed.source) if p)
    return Item(title=feed.title or feed.url, url=feed.url, meta=meta, fields=tuple(fields))


def _valid_feed_url(url: str) -> str | None:
    from bot.config import FeedConfig

    try:
        FeedConfig(url=url)
    except ValueError as exc:
        return clip(str(exc).splitlines()[-1], 120)
    if len(url) > 2048:
        return "URL too long"
    return None


async def feeds_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    action = cmd.args[0].lower() if cmd.args else "list"
    now = deps.now()
    if action in ("add", "remove", "rm", "delete", "del"):
        if not ctx.is_admin:
            return Result(kind="feeds", ok=False, title="Admins only", text="Only admins can add or remove feeds.")
        if len(cmd.args) < 2:
            return usage_for("feeds", f"feeds {action} needs a URL").to_result()
        ref = cmd.args[1]
        if action == "add":
            return await _add_feed(ref, cmd, deps, now)
        return await _remove_feed(ref, deps)
    if action != "list":
        return usage_for("feeds", f"unknown action '{clip(action, 30)}'").to_result()
    size = deps.page_size * 2
    offset = (cmd.page - 1) * size
    async with deps.sessions() as s:
        total = int((await s.execute(select(func.count()).select_from(Feed))).scalar() or 0)
        feeds = list((await s.execute(select(Feed).order_by(Feed.id).limit(size + 1).offset(offset))).scalars())
    if not feeds:
        return Result(kind="feeds", title="Feeds", text="No feeds." if offset == 0 else "No more feeds.")
    return Result(
        kind="feeds", title=f"Feeds ({total})",
        sections=(Section(items=tuple(feed_item(f, now) for f in feeds[:size])),),
        page=page_of(cmd, min(len(feeds), size), size, len(feeds) > size),
    )


async def _add_feed(url: str, cmd: Command, deps: Deps, now: datetime) -> Result:
    problem = _valid_feed_url(url)
    if problem:
        return usage_for("feeds", f"not a feed URL: {problem}").to_result()
    topics = tuple(sorted({t.lower() for t in re.split(r"[\s,]+", cmd.options.get("topic", "")) if t}))
    full_text = cmd.options.get("full_text", "auto").lower()
    if full_text not in ("auto", "always", "never"):
        return usage_for("feeds", "full_text: is auto, always or never").to_result()
    async with deps.sessions.begin() as s:
        existing = (await s.execute(select(Feed).where(Feed.url == url))).scalar_one_or_none()
        if existing is not None and existing.enabled:
            return Result(kind="feeds", ok=False, title="Already there", text=f"#{existing.id} {url} is already in the list.")
        try:
            from bot.ingest.feeds import FeedError, FeedSpec, add_feed
        except ImportError:  # pragma: no cover - the ingest package owns feed rows when present
            feed = Feed(url=url, topics=" ".join(topics), full_text=full_text, source="chat", next_check_at=now)
            s.add(feed)
            await s.flush()
        else:
            try:
                feed, _created = await add_feed(
                    s, FeedSpec(url=url, topics=topics, full_text=full_text), source="chat",
                    allow_private=deps.allow_private_feeds,
                )
            except FeedError as exc:
                return usage_for("feeds", str(exc)).to_result()
        fid = feed.id
    return Result(kind="feeds", title="Feed added", ephemeral=False, text=f"#{fid} {url}: polled at the next cycle.")


MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds on either backend


def feed_id(ref: str) -> int | None:
    """The feed id a reference like "12" or "#12" names (None for a URL); an id out of any
    column's range names no feed (0), never an overflow in the database driver."""
    digits = ref.strip().lstrip("#")
    if not (digits.isascii() and digits.isdigit()):
        return None
    n = int(digits) if len(digits) <= 12 else 0
    return n if 0 < n <= MAX_ID else 0


async def _remove_feed(ref: str, deps: Deps) -> Result:
    fid = feed_id(ref)
    if fid == 0:
        return usage_for("feeds", f"a feed id is a number from 1 to {MAX_ID}").to_result()
    async with deps.sessions.begin() as s:
        cond = Feed.id == fid if fid is not None else Feed.url == ref
        feed = (await s.execute(select(Feed).where(cond))).scalar_one_or_none()
        if feed is None:
            return Result(kind="feeds", ok=False, title="No such feed", text=f"No feed {clip(ref, 100)}.")
        url, source = feed.url, feed.source
        await s.delete(feed)  # articles keep their rows (feed_id SET NULL)
    note = " It is in the config file: remove it there too or it returns at the next start." if source == "config" else ""
    return Result(kind="feeds", title="Feed removed", ephemeral=False, text=f"{url} removed; its articles stay.{note}")


# ---------------------------------------------------------------- status / help


async def status_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    from bot.archive.status import archive_stats, failing_clause
    from bot.fulltext.queue import queue_counts

    now = deps.now()
    async with deps.sessions() as s:
        counts = await archive_stats(s)
        failing = list(
            (
                await s.execute(
                    select(Feed).where(failing_clause())
                    .order_by(Feed.consecutive_failures.desc()).limit(5)
                )
            ).scalars()
        )
        cycle = (await s.execute(select(IngestCycle).order_by(IngestCycle.id.desc()).limit(1))).scalar_one_or_none()
        by_status = dict(
            (await s.execute(select(Delivery.status, func.count()).group_by(Delivery.status))).all()
        )
        dead = (
            await s.execute(
                select(Delivery, Channel).join(Channel, Channel.id == Delivery.channel_id)
                .where(Delivery.status == "dead").order_by(Delivery.id.desc()).limit(3)
            )
        ).all()
        paused = list((await s.execute(select(Channel).where(Channel.paused.is_(True)).limit(5))).scalars())
        pages = await queue_counts(s)
    archive = Item(
        title="Archive",
        fields=(("articles", str(counts["articles"])), ("statements", str(counts["statements"])),
                ("feeds", f"{counts['feeds']} ({counts['feeds_failing']} failing, {counts['feeds_in_backoff']} in backoff,"
                          f" {counts['feeds_disabled']} disabled)")),
    )
    if cycle is None:
        cycle_item = Item(title="Last ingest cycle", body="none yet")
    else:
        stats = cycle.stats or {}
        cycle_item = Item(
            title="Last ingest cycle",
            meta=f"started {when(cycle.started_at)}" + (f", finished {when(cycle.finished_at)}" if cycle.finished_at else ", running"),
            fields=tuple((str(k), str(v)) for k, v in list(stats.items())[:8] if not isinstance(v, dict | list)),
        )
    pending = sum(int(by_status.get(k, 0)) for k in ("pending", "sending", "failed"))
    deliveries = Item(
        title="Deliveries",
        fields=(("pending", str(pending)), ("retrying", str(int(by_status.get("failed", 0)))),
                ("sent", str(int(by_status.get("sent", 0)))), ("dead", str(int(by_status.get("dead", 0))))),
    )
    fulltext = Item(title="Full-text pages", fields=tuple((k.replace("_", " "), str(v)) for k, v in pages.items()))
    sections = [Section(items=(archive, cycle_item, deliveries, fulltext))]
    if failing:
        sections.append(Section(heading="Failing feeds", items=tuple(feed_item(f, now) for f in failing)))
    if dead:
        sections.append(
            Section(heading="Undeliverable", items=tuple(
                Item(title=f"{d.kind} to {c.platform}:{c.external_id}", meta=when(d.created_at),
                     body=clip(d.last_error or "", 200) or None)
                for d, c in dead
            ))
        )
    if paused:
        sections.append(Section(heading="Paused channels", items=tuple(
            Item(title=f"{c.platform}:{c.name or c.external_id}", body=clip(c.paused_reason or "", 200) or None)
            for c in paused
        )))
    if deps.runtime_status is not None:
        rt = deps.runtime_status()
        sections.append(Section(heading="Bot", items=(Item(title="Running", fields=tuple(rt.items())),)))
    ok = not failing and not dead and not paused
    return Result(kind="status", title="Status" + ("" if ok else " (needs attention)"), sections=tuple(sections))


async def help_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    if cmd.args:
        name = cmd.args[0].lower()
        if name in SPECS:
            spec = SPECS[name]
            return Result(kind="help", title=f"/news {name}", text=f"{spec.summary}\nUsage: /news {spec.usage}")
    items = tuple(Item(title=f"/news {usage}", body=summary) for usage, summary in help_lines())
    return Result(
        kind="help", title="/news: newsroom lookups",
        sections=(Section(items=items),),
        footer='Figures by name, alias or title ("zelenskyy", "the nato chief"). Times: 24h, 7d, 2w, 2025-06-01.',
    )


HANDLERS: dict[str, Handler] = {
    "search": search_cmd,
    "quotes": quotes_cmd,
    "figure": figure_cmd,
    "digest": digest_cmd,
    "subscribe": subscribe_cmd,
    "unsubscribe": unsubscribe_cmd,
    "feeds": feeds_cmd,
    "status": status_cmd,
    "help": help_cmd,
}

__all__ = ["HANDLERS", "Deps", "QueryError"]
