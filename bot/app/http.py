"""The bot's own HTTP server: `/healthz` (JSON, 200 or 503), `/metrics` (Prometheus), adapters' routes.

Health is what an orchestrator should restart on: the database answers and every adapter that was
started is still running. Failing feeds do not make the bot unhealthy (restarting cannot fix a
publisher's outage); they are reported in the body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from bot.runtime.metrics import exposition

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def make_app(
    health: HealthCheck,
    routes: Sequence[web.RouteDef] = (),
    before_metrics: Callable[[], Awaitable[None]] | None = None,
) -> web.Application:
    """`before_metrics` refreshes database-backed gauges (outbox by status) at scrape time; a
    failure there is logged and the in-process metrics are served anyway."""
    async def healthz(_request: web.Request) -> web.Response:
        try:
            body = await health()
        except Exception as exc:  # the check itself failing is a failed check
            log.warning("health check failed: %s", exc)
            body = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"}
        status = 200 if body.get("status") == "ok" else 503
        return web.Response(status=status, text=json.dumps(body, default=str), content_type="application/json")

    async def metrics(_request: web.Request) -> web.Response:
        if before_metrics is not None:
            try:
                await before_metrics()
            except Exception as exc:
                log.warning("metrics: database gauges not refreshed: %s", exc)
        return web.Response(body=exposition(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    app = web.Application(client_max_size=1024 * 1024)
    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics), *routes])
    return app


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner (for cleanup) and the bound port (port 0 picks one)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=5.0)
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = int(server.sockets[0].getsockname()[1])
    return runner, bound
