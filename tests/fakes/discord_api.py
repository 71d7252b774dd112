"""A fake Discord (REST v10 + gateway websocket) on 127.0.0.1 for discord.py.

REST: the login calls (`users/@me`, `oauth2/applications/@me`), the command sync
(`PUT applications/{id}/commands`), channel messages (create with nonce + `enforce_nonce`, list),
the interaction callback and the followup webhook. Gateway: HELLO, READY after IDENTIFY, heartbeat
ACKs, and `dispatch(event, data)` to push events such as INTERACTION_CREATE to the connected bot.
Every REST request is recorded. Tests queue failures with `fail(route_key, status, code)` and
`rate_limit(route_key, retry_after)`; a 429 carries a `Via` header and a JSON `retry_after` as
Discord's does (without them discord.py takes it for a Cloudflare ban).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "discord-test-token"
APP_ID = "111111111111111111"
BOT_USER = {
    "id": "222222222222222222",
    "username": "newsbot",
    "discriminator": "0",
    "avatar": None,
    "bot": True,
    "global_name": None,
}
OWNER = {"id": "333333333333333333", "username": "owner", "discriminator": "0", "avatar": None, "global_name": None}


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with a bare `application/json` type: discord.py compares the header exactly."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers, content_type="application/json")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    payload: Any
    headers: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class FakeDiscord:
    token: str = BOT_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    followups: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    callbacks: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    commands: list[dict[str, Any]] = field(default_factory=list)
    missing_channels: set[str] = field(default_factory=set)
    forbidden_channels: set[str] = field(default_factory=set)
    _failures: dict[str, deque[tuple[int, int, float]]] = field(default_factory=lambda: defaultdict(deque))
    _ids: Any = field(default_factory=lambda: itertools.count(900000000000000000))
    _last_id: int = 0
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None
    port: int = 0

    # --- test controls ---------------------------------------------------------------------
    def fail(self, route: str, status: int, code: int = 0, times: int = 1) -> None:
        """The next `times` requests to `route` ("POST /channels/{id}/messages") fail with this status."""
        for _ in range(times):
            self._failures[route].append((status, code, 0.0))

    def rate_limit(self, route: str, retry_after: float = 0.1, times: int = 1) -> None:
        for _ in range(times):
            self._failures[route].append((429, 0, retry_after))

    def calls(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.key == route]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway DISPATCH event to every connected client."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    def new_id(self) -> str:
        """A snowflake as Discord makes them: the time in its top bits, so `after=` filters work."""
        now_ms = int(time.time() * 1000) - 1420070400000  # Discord's epoch
        self._last_id = max(self._last_id + 1, now_ms << 22)
        return str(self._last_id)

    # --- server ----------------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self.runner:
            await self.runner.cleanup()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if data["op"] == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif data["op"] == 2:
                    assert data["d"]["token"] == self.token
                    self.identify = data["d"]
                    ready = {
                        "v": 10,
                        "user": BOT_USER,
                        "guilds": [],
                        "session_id": "fake-session",
                        "resume_gateway_url": self.gateway_url,
                        "application": {"id": APP_ID, "flags": 0},
                    }
                    await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready}))
                    self.identified.set()
        finally:
            self._sockets.remove(ws)
        return ws

    def _message(self, channel_id: str, payload: dict[str, Any], *, webhook: bool = False) -> dict[str, Any]:
        msg = {
            "id": self.new_id(),
            "channel_id": channel_id,
            "type": 0,
            "author": BOT_USER,
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": payload.get("flags", 0),
            "components": [],
        }
        if webhook:
            msg["webhook_id"] = APP_ID
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        return msg

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        payload: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json" and raw:
                payload = json.loads(raw)
            elif request.content_type.startswith("multipart"):
                payload = {"multipart": raw.decode(errors="replace")}
        rec = Recorded(request.method, path, dict(request.query), payload, dict(request.headers))
        self.requests.append(rec)
        token_route = path.startswith(("/webhooks/", "/interactions/"))  # the interaction token is the auth
        if not token_route and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._error(401, 0, "401: Unauthorized")
        route = self._route_key(request.method, path)
        if self._failures[route]:
            status, code, retry_after = self._failures[route].popleft()
            if status == 429:
                return _json(
                    {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
                    status=429,
                    headers={
                        "Via": "1.1 google",
                        "Retry-After": str(retry_after),
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": str(retry_after),
                        "X-RateLimit-Bucket": "fakebucket",
                        "X-RateLimit-Scope": "user",
                    },
                )
            return self._error(status, code, "failure on demand")
        return await self._answer(request.method, path, payload, rec)

    @staticmethod
    def _route_key(method: str, path: str) -> str:
        parts = path.strip("/").split("/")
        if parts[0] == "channels" and len(parts) >= 2:
            parts[1] = "{id}"
        if parts[0] in ("webhooks", "interactions") and len(parts) >= 3:
            parts[1], parts[2] = "{id}", "{token}"
        return f"{method} /" + "/".join(parts)

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return _json({"message": message, "code": code}, status=status, headers={"Via": "1.1 google"})

    async def _answer(self, method: str, path: str, payload: Any, rec: Recorded) -> web.Response:
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return _json(BOT_USER)
        if path == "/oauth2/applications/@me":
            return _json(
                {
                    "id": APP_ID,
                    "name": "newsbot",
                    "description": "",
                    "icon": None,
                    "bot_public": False,
                    "bot_require_code_grant": False,
                    "owner": OWNER,
                    "team": None,
                    "verify_key": "00",
                    "flags": 0,
                    "summary": "",
                    "rpc_origins": [],
                }
            )
        if parts[:1] == ["applications"] and parts[2:3] == ["commands"] and method == "PUT":
            self.commands = [{**c, "id": self.new_id(), "application_id": APP_ID, "version": "1"} for c in payload]
            return _json(self.commands)
        if parts[:1] == ["channels"] and parts[2:3] == ["messages"]:
            channel = parts[1]
            if channel in self.missing_channels:
                return self._error(404, 10003, "Unknown Channel")
            if channel in self.forbidden_channels:
                return self._error(403, 50001, "Missing Access")
            if method == "POST":
                nonce = payload.get("nonce")
                if nonce is not None and payload.get("enforce_nonce"):
                    for existing in self.messages[channel]:
                        if existing.get("nonce") == nonce:
                            return _json(existing)
                msg = self._message(channel, payload)
                self.messages[channel].append(msg)
                return _json(msg)
            if method == "GET":
                limit = int(rec.query.get("limit", 50))
                before, after = rec.query.get("before"), rec.query.get("after")
                newest = [
                    m for m in reversed(self.messages[channel])
                    if (before is None or int(m["id"]) < int(before)) and (after is None or int(m["id"]) > int(after))
                ][:limit]
                # Discord does not return the nonce when listing messages
                return _json([{k: v for k, v in m.items() if k != "nonce"} for m in newest])
        if parts[:1] == ["interactions"] and parts[3:4] == ["callback"]:
            self.callbacks[parts[2]].append(payload)
            flags = (payload.get("data") or {}).get("flags", 0)
            return _json(
                {
                    "interaction": {
                        "id": parts[1],
                        "type": 2,
                        "response_message_loading": payload["type"] == 5,
                        "response_message_ephemeral": bool(flags & 64),
                    },
                    "resource": {"type": payload["type"]},
                }
            )
        if parts[:1] == ["webhooks"] and len(parts) == 3 and method == "POST":
            msg = self._message("0", payload, webhook=True)
            self.followups[parts[2]].append(payload)
            return _json(msg)
        if parts[:1] == ["webhooks"] and parts[3:5] == ["messages", "@original"]:
            if method == "PATCH":
                self.followups[parts[2] + ":original"].append(payload)
                return _json(self._message("0", payload, webhook=True))
            if method == "DELETE":
                self.followups[parts[2] + ":deleted"].append({})
                return web.Response(status=204)
        return self._error(404, 0, f"fake has no route {method} {path}")
