"""Settings: secrets and endpoints from the environment, the rest from `config/newsbot.yaml`.

Everything is validated once at start-up so that a wrong setting stops the bot with one line that
names the key, instead of failing hours later in a scheduled job.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.statements.figures import Figure, Title

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "newsbot.yaml"


class ConfigError(Exception):
    """A setting is wrong; the message is one line naming the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Strict):
    url: str
    topics: list[str] = []
    full_text: Literal["auto", "always", "never"] = "auto"
    title: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http(s) URL")
        return v


class TopicConfig(_Strict):
    keywords: list[str] = Field(min_length=1)


class TitleConfig(_Strict):
    title: str
    since: date | None = None
    until: date | None = None


class FigureConfig(_Strict):
    name: str = Field(min_length=2)
    aliases: list[str] = []
    titles: list[TitleConfig] = []
    gender: Literal["m", "f"] | None = None
    topics: list[str] = []

    def to_figure(self) -> Figure:
        return Figure(
            name=self.name,
            aliases=tuple(self.aliases),
            titles=tuple(Title(t.title, t.since, t.until) for t in self.titles),
            gender=self.gender,
            topics=tuple(self.topics),
        )


class AlertRule(_Strict):
    figures: list[str] = []
    topics: list[str] = []


class DigestRule(_Strict):
    cron: str = "0 8 * * *"
    timezone: str = "UTC"
    topics: list[str] = []

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError("must be a 5-field cron expression like '0 8 * * *'")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


class ChannelConfig(_Strict):
    platform: Literal["slack", "discord", "console"]
    id: str = Field(min_length=1)
    alerts: AlertRule | None = None
    digest: DigestRule | None = None


class Limits(_Strict):
    """Bounds for the ingester; the defaults suit a 1-2 core server."""

    min_interval_s: int = Field(300, ge=10)
    max_interval_s: int = Field(6 * 3600, ge=60)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    per_host_concurrency: int = Field(2, ge=1)
    concurrency: int = Field(32, ge=1)
    timeout_s: float = Field(20.0, gt=0)
    user_agent: str = "newsbot/0.1 (+https://github.com/newsbot/newsbot)"


class FullTextLimits(_Strict):
    """Politeness for fetching linked article pages: per-origin rate and concurrency."""

    rate_per_s: float = Field(1.0, gt=0, le=50)  # requests a second to one origin (scheme, host, port)
    per_host_concurrency: int = Field(2, ge=1)
    concurrency: int = Field(16, ge=1)  # pages in flight across all origins
    interval_s: int = Field(30, ge=1)  # how often the background job drains the queue
    batch: int = Field(200, ge=1)  # queued articles claimed per run
    max_attempts: int = Field(5, ge=1)  # transient failures and 429s before an article is given up
    contact_url: str | None = None  # put into the User-Agent when `ingest.user_agent` carries none


class AppConfig(_Strict):
    feeds: list[FeedConfig] = []
    topics: dict[str, TopicConfig] = {}
    figures: list[FigureConfig] = []
    channels: list[ChannelConfig] = []
    ingest: Limits = Limits()
    fulltext: FullTextLimits = FullTextLimits()

    def figure_list(self) -> list[Figure]:
        return [f.to_figure() for f in self.figures]

    def topic_keywords(self) -> dict[str, list[str]]:
        return {name: list(t.keywords) for name, t in self.topics.items()}


class Settings(BaseSettings):
    """Environment settings (`NEWSBOT_*`, plus the platforms' own token names)."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///data/newsbot.db"
    config: Path = DEFAULT_CONFIG
    allow_private_feeds: bool = False
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)
    ingest_every_s: int = Field(60, ge=1, le=86_400)  # how often the ingester polls for due feeds
    health_stale_s: float = Field(900, gt=0)  # /healthz turns 503 when no ingest cycle ended this long: a stuck scheduler or database
    slack_api_url: str | None = None
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    slack_bot_token: Annotated[SecretStr | None, Field(validation_alias="SLACK_BOT_TOKEN")] = None
    slack_app_token: Annotated[SecretStr | None, Field(validation_alias="SLACK_APP_TOKEN")] = None
    slack_signing_secret: Annotated[SecretStr | None, Field(validation_alias="SLACK_SIGNING_SECRET")] = None
    discord_bot_token: Annotated[SecretStr | None, Field(validation_alias="DISCORD_BOT_TOKEN")] = None

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not re.match(r"^(sqlite(\+aiosqlite)?|postgres(ql)?(\+asyncpg)?)://", v):
            raise ValueError("must be sqlite:///path.db or postgresql+asyncpg://user@host/db")
        return v


def _one_line(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{key}: {msg}"


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        env = name.upper() if name.isupper() or name.startswith(("SLACK", "DISCORD")) else f"NEWSBOT_{name.upper()}"
        raise ConfigError(f"{env}: {err['msg']}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"NEWSBOT_CONFIG: file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of sections (feeds, topics, figures, channels)")
    return raw


@lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    return _read_yaml(DEFAULT_CONFIG)


def load_config(path: Path | str | None = None) -> AppConfig:
    """Read the YAML config; sections left out take the shipped defaults."""
    path = Path(path) if path else DEFAULT_CONFIG
    raw = _read_yaml(path)
    merged = dict(raw)
    defaults = _defaults()
    for section in ("topics", "figures"):
        if section not in merged:
            merged[section] = defaults.get(section, {} if section == "topics" else [])
    try:
        return AppConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_one_line(exc)}") from None


def load_figures(path: Path | str | None = None) -> list[Figure]:
    return load_config(path).figure_list()
