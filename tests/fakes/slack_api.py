"""A fake Slack Web API (and response_url endpoint) on 127.0.0.1 for slack-sdk / slack-bolt.

Answers `auth.test`, `chat.postMessage`, `conversations.history` and `users.info` at
`/api/<method>` (slack-sdk sends JSON bodies, forms or query strings; all are accepted), and
`response_url` POSTs at `/response/<token>`. Every request is recorded. Tests queue failures with
`fail(method, error)` (Slack's `ok: false` answers) and `rate_limit(method, retry_after)` (HTTP 429
with `Retry-After`, as Slack sends it), or `rate_limit_for(method, seconds)` (429s for a while).
`conversations.history` answers as for apps outside the Slack Marketplace: at most
`HISTORY_PAGE` messages a page, newest first, `oldest`/`latest` bounds and cursor paging.
Message timestamps are wall-clock times, as Slack's are. `post_delay` holds each
`chat.postMessage` answer back after the message is stored (a crash then lands mid-post).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
HISTORY_PAGE = 15


@dataclass
class Recorded:
    method: str
    payload: dict[str, Any]
    headers: dict[str, str]
    status: int = 200


@dataclass
class FakeSlack:
    token: str = BOT_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    ephemeral: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    admins: set[str] = field(default_factory=set)
    views: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))  # views.publish by user
    _failures: dict[str, deque[tuple[str, float | None]]] = field(default_factory=lambda: defaultdict(deque))
    _ts = itertools.count(1)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0
    post_delay: float = 0.0
    posts_in_flight: int = 0  # stored, answer not yet sent (with post_delay)
    _limited_until: dict[str, tuple[float, float]] = field(default_factory=dict)

    # --- test controls ---------------------------------------------------------------------
    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        for _ in range(times):
            self._failures[method].append((error, None))

    def rate_limit(self, method: str, retry_after: float = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429 with this Retry-After."""
        for _ in range(times):
            self._failures[method].append(("ratelimited", retry_after))

    def rate_limit_for(self, method: str, seconds: float, retry_after: float = 1) -> None:
        """Every call of `method` in the next `seconds` answers HTTP 429 with this Retry-After."""
        self._limited_until[method] = (time.monotonic() + seconds, retry_after)

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, token: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{token}"

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push a Socket Mode envelope (slash_commands, interactive, events_api) to connected apps."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps(envelope))

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    # --- server ----------------------------------------------------------------------------
    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{token}", self._response)
        app.router.add_get("/link/", self._socket)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        payload: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                payload.update(await request.json())
            else:
                payload.update(dict(await request.post()))
        return payload

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = await self._payload(request)
        self.requests.append(Recorded(method, payload, dict(request.headers)))
        auth = request.headers.get("Authorization", "")
        if method == "apps.connections.open":  # the one method that takes the app-level token
            if auth != f"Bearer {APP_TOKEN}":
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket=t1"})
        if auth != f"Bearer {self.token}" and payload.get("token") != self.token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        limited = self._limited_until.get(method)
        if limited is not None and time.monotonic() < limited[0]:
            self.requests[-1].status = 429
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(int(limited[1]))}
            )
        if self._failures[method]:
            error, retry_after = self._failures[method].popleft()
            if retry_after is not None:
                self.requests[-1].status = 429
                return web.json_response(
                    {"ok": False, "error": error}, status=429, headers={"Retry-After": str(int(retry_after))}
                )
            return web.json_response({"ok": False, "error": error})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer = handler(payload)
        if method == "chat.postMessage" and self.post_delay:
            self.posts_in_flight += 1
            try:
                await asyncio.sleep(self.post_delay)
            finally:
                self.posts_in_flight -= 1
        return web.json_response(answer)

    def _m_auth_test(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://newsroom.slack.com/",
            "team": "Newsroom",
            "user": "newsbot",
            "team_id": "T0001",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
            "is_enterprise_install": False,
        }

    def _m_views_publish(self, payload: dict[str, Any]) -> dict[str, Any]:
        view = payload.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        self.views[str(payload.get("user_id"))].append(view)
        return {"ok": True, "view": {"id": "V0HOME", **(view or {})}}

    def _m_users_info(self, payload: dict[str, Any]) -> dict[str, Any]:
        user = payload.get("user", "")
        admin = user in self.admins
        return {"ok": True, "user": {"id": user, "name": user.lower(), "is_admin": admin, "is_owner": False}}

    def _m_chat_postMessage(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = payload["channel"]
        blocks = payload.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        metadata = payload.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        ts = self._new_ts()
        message = {
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "ts": ts,
            "text": payload.get("text", ""),
            "blocks": blocks or [],
        }
        if metadata:
            message["metadata"] = metadata
        self.messages[channel].append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_postEphemeral(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.ephemeral[payload["channel"]].append(payload)
        return {"ok": True, "message_ts": self._new_ts()}

    def _new_ts(self) -> str:
        """Wall-clock seconds and a sequence number, unique and increasing, like Slack's."""
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _m_conversations_history(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = payload["channel"]
        limit = min(int(payload.get("limit", 100)), HISTORY_PAGE)
        with_meta = str(payload.get("include_all_metadata", "")).lower() in ("1", "true")
        oldest = float(payload.get("oldest") or 0)
        latest = float(payload.get("latest") or "inf")
        start = int(payload.get("cursor") or 0)
        window = [m for m in reversed(self.messages[channel]) if oldest <= float(m["ts"]) <= latest]
        page = window[start:start + limit]
        out = [m if with_meta else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(window)
        return {"ok": True, "messages": out, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "connection_info": {"app_id": "A0NEWS"},
                    "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                }
            )
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
        finally:
            self._sockets.remove(ws)
        return ws

    async def _response(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        payload = await request.json()
        self.requests.append(Recorded("response_url", payload, dict(request.headers)))
        self.responses[token].append(payload)
        return web.Response(text="ok")
