"""Settings from ``REMPART_*`` environment variables, with defaults that run on a laptop.

Nothing reads the environment at import time: ``Settings()`` is built by the entry points
(``rempart serve``, ``rempart bot``, the CLI) and handed down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rempart.media import MediaLimits, VideoLimits


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "rempart"


class Settings(BaseSettings):
    """Every knob of the service, the bot and the CLI; see docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="REMPART_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    environment: str = "development"

    # Media accepted by /v1/match/file and the bot.
    max_upload_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000
    # Wall-clock seconds one uploaded video may take to decode (in a child process).
    video_decode_seconds: float = 60.0
    # Child processes that hash photos (0: in the calling process). `rempart bot` defaults to
    # one per core; the service's uvicorn workers are processes already.
    hash_workers: int = 0

    # The bank that holds victims' cases (created at start, shared with every platform).
    cases_bank: str = "cases"
    # How often each worker applies changes made through other workers (seconds).
    sync_interval: float = 0.2

    # Brute-force protection on case PINs: lockout after this many failures, doubling.
    pin_max_failures: int = 5
    pin_lockout_seconds: int = 60
    pin_lockout_max_seconds: int = 24 * 3600

    # Requests per minute.
    rate_limit_per_key: int = 120_000
    rate_limit_cases_per_ip: int = 600

    # Webhook delivery: attempts and the cap of the exponential backoff (seconds).
    webhook_max_attempts: int = 12
    webhook_max_backoff: int = 3600
    webhook_timeout: float = 10.0

    # Where the API key created on first start is written (mode 0600).
    admin_key_file: Path | None = None

    # Signs sighting tokens; generated and kept under data_dir when not given.
    secret_key: str | None = None

    # The Telegram bot (`rempart bot`, docs/telegram.md). The token is secret: never logged.
    telegram_token: SecretStr | None = None
    # Root of a local Bot API server (telegram-bot-api --local): `<url>/bot`, `<url>/file/bot`,
    # files read from disk and checked up to max_upload_bytes instead of the 20 MB cloud limit.
    telegram_api_url: str | None = None
    # Webhook mode when set: the public HTTPS URL Telegram posts updates to.
    telegram_webhook_url: str | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    telegram_webhook_secret: SecretStr | None = None
    # Updates processed at once (downloads, hashing and Telegram calls in flight).
    telegram_concurrency: int = 8
    # Seconds a getUpdates long poll waits for news.
    telegram_poll_timeout: int = 30
    # Matches before the delete_ban policy bans an uploader.
    telegram_ban_after: int = 3
    # Bot messages per minute into one chat (Telegram accepts about 20 in a group).
    telegram_messages_per_minute: int = 20
    # The page where a person protects her images (shown by /start in private chats).
    telegram_case_url: str | None = None
    # The organisation whose banks the bot queries in direct mode (default: the operator).
    bot_org: str = "local"
    # Remote mode: the bot matches through this rempart service's HTTP API with this key.
    api_url: str | None = None
    api_key: SecretStr | None = None

    @field_validator("max_upload_bytes", "max_pixels", "pin_max_failures")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("telegram_concurrency", "telegram_ban_after", "telegram_messages_per_minute")
    @classmethod
    def _positive_bot(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to a SQLite file in ``data_dir``."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{self.data_dir / 'rempart.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def media_limits(self) -> MediaLimits:
        return MediaLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)

    @property
    def video_limits(self) -> VideoLimits:
        return VideoLimits(max_bytes=self.max_upload_bytes, max_decode_s=self.video_decode_seconds)

    @property
    def key_file(self) -> Path:
        return self.admin_key_file or self.data_dir / "admin-api-key"
