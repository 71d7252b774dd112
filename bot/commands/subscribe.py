"""`/news subscribe` and `/news unsubscribe`: what this channel gets alerts, digests and article streams for."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.channels import Interest, get_or_create_channel, set_interest
from bot.chat.messages import Context, Item, Result, Section
from bot.commands.common import clip, not_tracked
from bot.commands.deps import Deps
from bot.commands.parser import SPECS, Command, usage_for
from bot.commands.stream_options import describe_stream, parse_stream_options
from bot.store.models import Channel, Feed, Subscription

DEFAULT_DIGEST_CRON = "0 8 * * *"
KINDS = ("figure", "topic", "keyword", "feed")


@dataclass(frozen=True)
class Target:
    kind: str  # figure | topic | keyword | feed (value: the feed's id)
    value: str
    label: str = ""  # how a feed is named back to the user


def _target(cmd: Command, deps: Deps) -> Target | Result | None:
    """What a subscribe/unsubscribe names; a Result when it cannot be told; None when nothing."""
    kind = next((k for k in KINDS if cmd.options.get(k)), None)
    written = cmd.options[kind] if kind else cmd.text
    if not written:
        return None
    written = clip(written, 100) if kind != "feed" else written.strip()
    if kind == "feed":
        return Target("feed", written)  # resolved against the feeds table by `_feed_target`
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


async def _feed_target(s: AsyncSession, written: str, command: str) -> Target | Result:
    """`feed:#12`, `feed:12`, `feed:URL` or `feed:NAME` (its title, any case) → the feed's id."""
    ref = written.lstrip("#")
    if ref.isdigit():
        cond = Feed.id == int(ref)
    elif "://" in written:
        cond = Feed.url == written
    else:
        cond = func.lower(Feed.title) == written.lower()
    found = list((await s.execute(select(Feed).where(cond).order_by(Feed.id).limit(2))).scalars())
    if len(found) == 1:
        return Target("feed", str(found[0].id), feed_label(found[0]))
    if found:
        return usage_for(command, f"two feeds are called '{clip(written, 60)}': name it by #id (see `feeds`)").to_result()
    return usage_for(command, f"no feed '{clip(written, 80)}': `feeds` lists them (by #id, URL or title)").to_result()


def feed_label(feed: Feed) -> str:
    return f"{clip(feed.title, 60) if feed.title else feed.url} (#{feed.id})"


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


def describe_sub(sub: Subscription, feeds: dict[str, str] | None = None) -> str:
    value = (feeds or {}).get(sub.value, f"#{sub.value}") if sub.kind == "feed" else sub.value
    what = {"figure": "", "topic": "topic ", "keyword": "keyword ", "feed": "feed "}.get(sub.kind, "") + value
    how = describe_stream(sub)
    if sub.alerts and sub.kind != "feed":
        how.insert(0, "alerts" + (f" mentioning {sub.mention}" if sub.mention and not sub.stream else ""))
    if sub.digest:
        how.append(f"digest {sub.digest_cron or DEFAULT_DIGEST_CRON} ({sub.timezone or 'UTC'})")
    src = " (set in the config file)" if sub.origin == "config" else ""
    return f"{what}: {', '.join(how) or 'nothing'}{src}"


def config_note(subs: list[Subscription], done: str, fix: str) -> str | None:
    """Say plainly that a config-file subscription changed in chat is put back at the next start."""
    if not subs:
        return None
    names = ", ".join(f"{x.kind} {x.value}" for x in subs)
    verb = "is" if len(subs) == 1 else "are"
    return (f"{names} {verb} set in the config file: {done} for now, but the config's setting returns at the next "
            f"restart. To {fix}, edit this channel's entry under `channels:` in the config file.")


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
    feeds = await feed_labels(s, subs)
    return Result(kind="subscribe", title="Subscriptions", text=paused,
                  sections=(Section(items=tuple(Item(title=describe_sub(x, feeds)) for x in subs)),),
                  footer="Change one by subscribing to it again with new options; stop it with unsubscribe.")


async def feed_labels(s: AsyncSession, subs: list[Subscription]) -> dict[str, str]:
    ids = [int(x.value) for x in subs if x.kind == "feed" and x.value.isdigit()]
    if not ids:
        return {}
    return {str(f.id): feed_label(f) for f in (await s.execute(select(Feed).where(Feed.id.in_(ids)))).scalars()}


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
    streaming = parse_stream_options(cmd.options)
    if isinstance(streaming, str):
        return usage_for("subscribe", streaming).to_result()
    target = _target(cmd, deps)
    if isinstance(target, Result):
        return target
    async with deps.sessions.begin() as s:
        if target is None and digest_on is None and alerts_opt is None and not streaming.given:
            return await _list_subs(s, ctx)
        if target is not None and target.kind == "feed":
            target = await _feed_target(s, target.value, cmd.name)
            if isinstance(target, Result):
                return target
        if target is None and streaming.given:
            return usage_for("subscribe", "name what these options are for: feed:…, topic:…, or a figure for "
                                          "mention:").to_result()
        if target is not None and target.kind in ("figure", "keyword") and streaming.streams_only:
            return usage_for("subscribe", "stream, filters and format are for a feed:… or topic:… stream "
                                          "(mention: works on any subscription)").to_result()
        targets = [target] if target else [Target("topic", t) for t in deps.config.topics]
        if not targets:
            return usage_for("subscribe", "name a figure, topic or keyword").to_result()
        channel = await get_or_create_channel(s, ctx.platform, ctx.channel_id, ctx.channel_name)
        done = []
        from_config: list[Subscription] = []
        for t in targets:
            existing = (
                await s.execute(
                    select(Subscription).where(Subscription.channel_id == channel.id, Subscription.kind == t.kind,
                                               Subscription.value == t.value)
                )
            ).scalar_one_or_none()
            alerts = default_alerts(alerts_opt, digest_on, existing.alerts if existing is not None else None,
                                    bulk=target is None)
            if t.kind == "feed" or (streaming.streams_only and alerts_opt is None and existing is None):
                alerts = False  # a stream alone: a feed has no alerts, a topic stream adds none unasked
            digest = digest_on if digest_on is not None else bool(existing and existing.digest)
            sub_cron = cron or (existing.digest_cron if existing is not None else None) or (DEFAULT_DIGEST_CRON if digest else None)
            sub_tz = tz or (existing.timezone if existing is not None else None) or ("UTC" if digest else None)
            if digest and sub_cron:
                problem = validate_schedule(sub_cron, sub_tz or "UTC")
                if problem:
                    return usage_for("subscribe", problem).to_result()
            stream_on = streaming.stream if streaming.stream is not None else bool(
                t.kind == "feed" or (existing is not None and existing.stream) or streaming.streams_only)
            if not alerts and not digest and not stream_on:
                return usage_for("subscribe", "that would turn off alerts, digest and stream: use unsubscribe").to_result()
            sub = await set_interest(
                s, channel,
                Interest(t.kind, t.value, alerts=alerts, digest=digest, digest_cron=sub_cron if digest else None,
                         timezone=sub_tz if digest else None),
                origin="chat",
            )
            streaming.apply(sub, default_stream=t.kind == "feed")
            await s.flush()
            done.append(describe_sub(sub, {t.value: t.label} if t.label else None))
            if sub.origin == "config":
                from_config.append(sub)
        if channel.paused and alerts_opt:
            channel.paused = False
            channel.paused_reason = None
    if deps.on_subscriptions_changed is not None:
        await deps.on_subscriptions_changed()
    return Result(kind="subscribe", title="Subscribed", ephemeral=False, text=config_note(from_config, "changed", "make it last"),
                  sections=(Section(items=tuple(Item(title=d) for d in done)),))


async def unsubscribe_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    all_ = cmd.text.lower() == "all" and not any(cmd.options.get(k) for k in KINDS)
    target = None if all_ else _target(cmd, deps)
    if isinstance(target, Result):
        return target
    if target is None and not all_:
        return usage_for("unsubscribe", "name what to stop (or `all`)").to_result()
    async with deps.sessions.begin() as s:
        if target is not None and target.kind == "feed":
            target = await _feed_target(s, target.value, cmd.name)
            if isinstance(target, Result):
                return target
        channel = (
            await s.execute(select(Channel).where(Channel.platform == ctx.platform, Channel.external_id == ctx.channel_id))
        ).scalar_one_or_none()
        q = select(Subscription).where(Subscription.channel_id == (channel.id if channel else -1))
        if target is not None:
            q = q.where(Subscription.kind == target.kind, func.lower(Subscription.value) == target.value.lower())
        subs = list((await s.execute(q)).scalars())
        if not subs:
            what = "anything" if target is None else f"{target.kind} {target.label or target.value}"
            return Result(kind="unsubscribe", ok=False, title="Not subscribed",
                          text=f"This channel is not subscribed to {what}.")
        await s.execute(delete(Subscription).where(Subscription.id.in_([x.id for x in subs])))
    if deps.on_subscriptions_changed is not None:
        await deps.on_subscriptions_changed()
    note = config_note([x for x in subs if x.origin == "config"], "stopped", "stop it for good")
    return Result(kind="unsubscribe", title="Unsubscribed", ephemeral=False, text=note,
                  sections=(Section(items=tuple(Item(title=f"{x.kind} {x.value}" if x.kind != "feed" or target is None
                                                     else f"feed {target.label}") for x in subs)),))
