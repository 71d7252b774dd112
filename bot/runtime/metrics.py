"""Prometheus metrics: one registry for the whole process, served at `/metrics`.

Modules import the metric they update from here (no module creates its own), so a name is
registered once however often a module is imported, and tests can read values off `REGISTRY`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

COMMANDS = Counter("newsbot_commands_total", "Chat commands handled", ["subcommand", "outcome"], registry=REGISTRY)
COMMAND_LATENCY = Histogram(
    "newsbot_command_seconds",
    "Time the command core took to answer",
    ["subcommand"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
COMMAND_ERRORS = Counter("newsbot_command_errors_total", "Commands that failed unexpectedly", registry=REGISTRY)

DIGESTS_QUEUED = Counter("newsbot_digests_queued_total", "Digest rows written to the outbox", registry=REGISTRY)
DELIVERIES = Counter(
    "newsbot_deliveries_total",
    "Outbox messages by outcome (delivered, recovered, retried, rate_limited, dead)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "newsbot_delivery_seconds", "Time from outbox row to platform acceptance", ["kind"], registry=REGISTRY,
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
)
DELIVERIES_PENDING = Gauge("newsbot_deliveries_pending", "Outbox rows not yet sent", registry=REGISTRY)

FEEDS_POLLED = Counter("newsbot_feeds_polled_total", "Feed fetch attempts", registry=REGISTRY)
FEEDS_FAILED = Counter("newsbot_feeds_failed_total", "Feed fetches that failed", registry=REGISTRY)
ARTICLES_STORED = Counter("newsbot_articles_stored_total", "Articles stored by outcome", ["outcome"], registry=REGISTRY)
# cycle timing and statements, for the operator's dashboard.
CYCLE_SECONDS = Histogram(
    "newsbot_ingest_cycle_seconds", "Wall time of one ingest cycle", registry=REGISTRY,
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800),
)
STATEMENTS_STORED = Counter("newsbot_statements_stored_total", "New statements extracted from stored articles", registry=REGISTRY)
FEED_HEALTH = Gauge(
    "newsbot_feeds", "Feeds by health (total, failing, in_backoff, disabled), read from the database at scrape",
    ["state"], registry=REGISTRY,
)
OUTBOX = Gauge("newsbot_outbox_rows", "Outbox rows by kind and status, read from the database at scrape", ["kind", "status"], registry=REGISTRY)
BAD_INPUT = Counter("newsbot_bad_input_total", "Input refused with a clear error, by where", ["where"], registry=REGISTRY)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


def value(name: str, labels: dict[str, str] | None = None) -> float:
    """A sample's current value (0 when absent): for `/news status` and tests."""
    got = REGISTRY.get_sample_value(name, labels or {})
    return float(got or 0.0)
FULLTEXT_PAGES = Counter(
    "newsbot_fulltext_pages_total",
    "Linked pages by outcome (fetched, blocked_robots, failed, rejected, retried, throttled)",
    ["outcome"],
    registry=REGISTRY,
)
FULLTEXT_QUEUED = Gauge("newsbot_fulltext_queued", "Articles waiting for their page", registry=REGISTRY)
