"""Settings, read once from the environment and an optional ``retentio.toml``.

Precedence: explicit arguments > environment (``RETENTIO_*``) > ``$RETENTIO_HOME/retentio.toml`` >
defaults. Nothing else in the package reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_HOME = "./retentio-data"
DEFAULT_TIMEZONE = "Europe/Moscow"


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


def normalise_database_url(url: str) -> str:
    """Map the URL forms users write to the drivers we ship.

    ``postgresql://`` and ``postgres://`` use psycopg 3; ``sqlite:///path`` stays as it is.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith(("postgresql+", "sqlite:")):
        return url
    raise ConfigError(
        f"RETENTIO_DATABASE_URL {url!r} is not supported: use postgresql://user@host:5432/db or sqlite:///path"
    )


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one retentio installation."""

    home: Path = field(default_factory=lambda: Path(DEFAULT_HOME))
    database_url: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    currency: str = "RUB"
    active_window_days: int = 365
    locale: str = "en"
    smtp: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'retentio.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def snapshot_path(self) -> Path:
        """The DuckDB file analytics read (kept current by ingest)."""
        return self.home / "analytics.duckdb"

    @property
    def rejects_dir(self) -> Path:
        return self.home / "rejects"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("RETENTIO_HOME") or DEFAULT_HOME)
        file_values: dict[str, Any] = {}
        config_file = home / "retentio.toml"
        if config_file.is_file():
            try:
                file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{config_file}: {exc}") from exc

        def pick(env_name: str, key: str, default: Any) -> Any:
            return env.get(env_name) or file_values.get(key) or default

        smtp = dict(file_values.get("smtp", {}))
        for key in ("host", "port", "from", "user", "password", "tls"):
            value = env.get(f"RETENTIO_SMTP_{key.upper()}")
            if value:
                smtp[key] = value
        settings = cls(
            home=home,
            database_url=pick("RETENTIO_DATABASE_URL", "database_url", None),
            timezone=pick("RETENTIO_TIMEZONE", "timezone", DEFAULT_TIMEZONE),
            currency=pick("RETENTIO_CURRENCY", "currency", "RUB"),
            active_window_days=int(pick("RETENTIO_ACTIVE_WINDOW_DAYS", "active_window_days", 365)),
            locale=pick("RETENTIO_LOCALE", "locale", "en"),
            smtp=smtp,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"RETENTIO_TIMEZONE {self.timezone!r} is not a known time zone") from exc
        if self.active_window_days <= 0:
            raise ConfigError("RETENTIO_ACTIVE_WINDOW_DAYS must be a positive number of days")
        if self.database_url:
            normalise_database_url(self.database_url)
