"""Logging for a bot that runs unattended for months: one line per event, no secrets, ever.

Every log record, ours (structlog or stdlib `logging`) and the libraries' (slack_sdk, discord.py,
SQLAlchemy, APScheduler), goes through one structlog `ProcessorFormatter` on stderr:

- JSON Lines when stderr is not a terminal (Docker, systemd, CI) or `NEWSBOT_LOG_FORMAT=json`;
  a readable console format on a terminal (`NEWSBOT_LOG_FORMAT=console` forces it).
- Redaction runs last, after exceptions are rendered to text, over every field: Slack tokens
  (`xoxb-`, `xoxp-`, `xapp-`, …), Discord bot tokens, `Bot …`/`Bearer …` credentials, webhook
  tokens, passwords inside URLs (`postgresql://user:pw@host`), and the exact values of the secret
  environment variables. A library that logs a request with its headers cannot leak a token.
- Without `--debug` an exception is one line (type, message, where it was raised); with it, the
  full traceback. Either way the process keeps serving: logging an error is not handling it.
"""

from __future__ import annotations

import json as _json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.engine import make_url

# Read here, not through Settings: logging is set up before the settings are validated, so that
# a bad setting is itself reported in the chosen format.
ENV_FORMAT = "NEWSBOT_LOG_FORMAT"
SECRET_ENV = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_BOT_TOKEN")
MASK = "***"

# Libraries that are chatty at INFO (a line per scheduled run, per SQL statement) or DEBUG.
_QUIET = {
    "apscheduler.executors": logging.WARNING,
    "apscheduler.scheduler": logging.WARNING,
    "aiosqlite": logging.INFO,
    "asyncio": logging.INFO,
    "httpcore": logging.INFO,
    "httpx": logging.WARNING,
    "hpack": logging.INFO,
    "aiohttp.access": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "alembic.runtime.migration": logging.WARNING,
    "trafilatura": logging.WARNING,
    "htmldate": logging.WARNING,
    "charset_normalizer": logging.WARNING,
}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Slack: bot/user/app/config/refresh tokens all start xox?- or xapp-.
    (re.compile(r"\b(xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]{6,}"), r"\1-" + MASK),
    # Discord bot token: base64(user id) . timestamp . HMAC.
    (re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"), MASK),
    # Authorization header values.
    (re.compile(r"\b(Bot|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{12,}"), r"\1 " + MASK),
    # Webhook URLs carry their credential in the path.
    (re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+"), r"\1" + MASK),
    (re.compile(r"(discord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d+/)[A-Za-z0-9._-]+"), r"\1" + MASK),
    # user:password@ in any URL (database URLs, proxies).
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), r"\1:" + MASK + "@"),
    # key=value / "key": "value" pairs whose key says secret.
    (
        re.compile(r"""(?i)(["']?\b(?:token|secret|password|passwd|api_key|apikey|client_secret)["']?\s*[=:]\s*["']?)[^\s"',;&]{4,}"""),
        r"\1" + MASK,
    ),
]

_exact: set[str] = set()


def add_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears (short values are ignored: too many false hits)."""
    if value and len(value) >= 8:
        _exact.add(value)


def _env_secrets() -> Iterable[str]:
    for name in SECRET_ENV:
        yield os.environ.get(name, "")
    url = os.environ.get("NEWSBOT_DATABASE_URL", "")
    if url:
        try:
            password = make_url(url).password
        except Exception:  # a malformed URL is reported by settings validation, not here
            password = None
        if password:
            yield str(password)


def redact(text: str) -> str:
    """The text with every credential we can recognise masked (pure; idempotent)."""
    for value in sorted(_exact, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _redact_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))  # an object's text is what would be written: redact that


_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|api_?key|authorization|cookie)")


def redact_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask credentials in every field; a field named like a secret is masked whole."""
    return {
        k: (MASK if _SECRET_KEY.search(k) and v not in (None, "") else _redact_value(v)) for k, v in event_dict.items()
    }


def _exc_info(value: Any) -> tuple[Any, Any, Any] | None:
    if value is True:
        info = sys.exc_info()
        return info if info[0] is not None else None
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    return None


_PROJECT_ROOT = str(Path(__file__).resolve().parents[2]) + "/"  # paths in one-line errors start at bot/


def summarize_exception(exc: BaseException) -> str:
    """One line: `Type: message (at file:line in function)`, the innermost frame of our raise."""
    msg = f"{type(exc).__name__}: {exc}".strip()
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if frames:
        f = frames[-1]
        path = f.filename
        for marker in ("/site-packages/", _PROJECT_ROOT):
            if marker in path:
                path = path.split(marker, 1)[1]
        msg += f" (at {path}:{f.lineno} in {f.name})"
    return " ".join(msg.split())


class ExceptionRenderer:
    """exc_info → an `exception` text field: one line normally, the whole traceback with debug."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        info = _exc_info(event_dict.pop("exc_info", None))
        if info is not None:
            if self.debug:
                event_dict["exception"] = "".join(traceback.format_exception(*info)).rstrip()
            else:
                event_dict["exception"] = summarize_exception(info[1])
        return event_dict


def want_json(stream: Any = None) -> bool:
    """JSON unless stderr is a terminal; NEWSBOT_LOG_FORMAT=json|console overrides."""
    fmt = os.environ.get(ENV_FORMAT, "").strip().lower()
    if fmt in ("json", "console"):
        return fmt == "json"
    stream = stream or sys.stderr
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def _dumps(obj: Any, **kw: Any) -> str:
    kw["default"] = str  # a value JSON cannot carry is written as its (already redacted) text
    return _json.dumps(obj, ensure_ascii=False, **kw)


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Marks the handler we installed, so configuring twice replaces it instead of doubling lines."""


def configure_logging(
    json: bool | None = None,
    debug: bool = False,
    *,
    level: int | None = None,
    stream: Any = None,
    secrets: Iterable[str] = (),
) -> logging.Handler:
    """Send every log record, ours and the libraries', through redaction to one stream.

    `json=None` picks by `want_json()`. `level` defaults to DEBUG with `debug`, else INFO.
    Safe to call again (tests, the CLI then `run`): the previous handler is replaced.
    """
    stream = stream or sys.stderr
    use_json = want_json(stream) if json is None else json
    for s in (*_env_secrets(), *secrets):
        add_secret(s)
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=30)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            ExceptionRenderer(debug),
            redact_processor,
            renderer,
        ],
    )
    handler = _OurHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _OurHandler) or type(h) is logging.StreamHandler:
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level if level is not None else (logging.DEBUG if debug else logging.INFO))
    for name, lvl in _QUIET.items():
        logging.getLogger(name).setLevel(lvl)
    logging.captureWarnings(True)
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return handler


def get_logger(name: str) -> Any:
    """A structlog logger (key=value events) that goes through the same handler."""
    return structlog.stdlib.get_logger(name)
