"""What an adapter may read of the bot's settings: its platform's tokens and API addresses.

Adapters depend on this port, not on `bot.config`: `Settings` satisfies it structurally, and a
test or another host can hand an adapter any object with these attributes.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class PlatformSettings(Protocol):
    @property
    def slack_bot_token(self) -> SecretStr | None: ...

    @property
    def slack_app_token(self) -> SecretStr | None: ...

    @property
    def slack_signing_secret(self) -> SecretStr | None: ...

    @property
    def slack_api_url(self) -> str | None: ...

    @property
    def discord_bot_token(self) -> SecretStr | None: ...

    @property
    def discord_api_url(self) -> str | None: ...

    @property
    def discord_gateway_url(self) -> str | None: ...
