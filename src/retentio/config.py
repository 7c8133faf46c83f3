"""Settings, read once from the environment and an optional ``retentio.toml`` (pydantic-settings).

Precedence: explicit arguments > environment (``RETENTIO_*``) > ``$RETENTIO_HOME/retentio.toml`` >
defaults. Nothing else in the package reads the environment: the application context
(:class:`retentio.app.App`) is built from one :class:`Settings` and hands it to everything else.

Values are typed and validated: ``RETENTIO_ACTIVE_WINDOW_DAYS=0`` is an error, not the default; an
empty variable counts as unset; secrets (the SMTP password) are :class:`~pydantic.SecretStr` and
never appear in a repr or a log.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from retentio.errors import ConfigError

DEFAULT_HOME = "./retentio-data"
DEFAULT_TIMEZONE = "Europe/Moscow"
ENV_PREFIX = "RETENTIO_"

__all__ = ["DEFAULT_HOME", "DEFAULT_TIMEZONE", "ConfigError", "Settings", "normalise_database_url"]


def normalise_database_url(url: str) -> str:
    """Map the URL forms users write to the drivers we ship, refusing what would surprise them.

    ``postgresql://`` and ``postgres://`` use psycopg 3; ``sqlite:///path`` stays as it is. A
    PostgreSQL URL must name its database (a bare ``postgresql://`` would create our tables in
    whatever database libpq defaults to), and a port must be a number.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith(("postgresql://", "postgresql+")):
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError for a port that is not a number in 0..65535
        except ValueError as exc:
            raise ConfigError(
                f"RETENTIO_DATABASE_URL: {exc} (expected postgresql://user@host:5432/db)"
            ) from exc
        if not unquote(parts.path.lstrip("/")):
            raise ConfigError(
                "RETENTIO_DATABASE_URL names no database: write postgresql://user@host:5432/dbname"
            )
        if url.startswith("postgresql://"):
            return "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    if url.startswith("sqlite:"):
        if url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
            raise ConfigError("RETENTIO_DATABASE_URL: an in-memory SQLite store would lose every ingest")
        return url
    raise ConfigError(
        f"RETENTIO_DATABASE_URL {url!r} is not supported: use postgresql://user@host:5432/db or sqlite:///path"
    )


class _MappingEnvSource(EnvSettingsSource):
    """The environment source over an explicit mapping (``Settings.from_env(environ)``)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        vars_ = {k.lower(): v for k, v in self._environ.items()}
        return {k: v for k, v in vars_.items() if v != ""}


class _TomlSource(PydanticBaseSettingsSource):
    """``$RETENTIO_HOME/retentio.toml``: top-level keys, and an ``[smtp]`` table as ``smtp_*``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is returned at once by __call__

    def __call__(self) -> dict[str, Any]:
        home = self.current_state.get("home") or DEFAULT_HOME
        config_file = Path(home) / "retentio.toml"
        try:
            if not config_file.is_file():
                return {}
            values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_file}: cannot read it ({exc})") from exc
        smtp = values.pop("smtp", {})
        if isinstance(smtp, dict):
            values.update({f"smtp_{key}": value for key, value in smtp.items()})
        known = set(self.settings_cls.model_fields)
        return {key: value for key, value in values.items() if key in known}


class Settings(BaseSettings):
    """Everything configurable about one retentio installation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore", validate_default=True
    )

    home: Path = Field(default_factory=lambda: Path(DEFAULT_HOME))
    database_url: str | None = None
    # An ibis connection URL (clickhouse://..., bigquery://project/dataset, duckdb:///path) whose
    # tables follow the snapshot schema: analytics read there instead of the DuckDB snapshot.
    analytics_url: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    currency: str = Field("RUB", pattern=r"^[A-Z]{3}$")
    active_window_days: int = Field(365, gt=0)
    locale: Literal["en", "ru"] = "en"
    smtp_host: str | None = None
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_from: str | None = None
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON_OVERRIDE.get("environ")
        env = _MappingEnvSource(settings_cls, environ) if environ is not None else env_settings
        return (init_settings, env, _TomlSource(settings_cls))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known time zone") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_url(cls, value: str | None) -> str | None:
        if value:
            normalise_database_url(value)
        return value or None

    @field_validator("locale", mode="before")
    @classmethod
    def _language_only(cls, value: Any) -> Any:
        # "ru_RU.UTF-8" or "ru-RU" → "ru": people paste their shell's LANG.
        if isinstance(value, str):
            return value.split(".")[0].replace("-", "_").split("_")[0].lower()
        return value

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
    def sqlite_path(self) -> Path | None:
        """The SQLite file of the store, or None for a server database."""
        url = self.sqlalchemy_url
        if not url.startswith("sqlite:///"):
            return None
        return Path(url.removeprefix("sqlite:///").split("?")[0])

    @property
    def snapshot_path(self) -> Path:
        """The DuckDB file analytics read (kept current by ingest)."""
        return self.home / "analytics.duckdb"

    @property
    def rejects_dir(self) -> Path:
        return self.home / "rejects"

    def with_(self, **changes: Any) -> Settings:
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment (or ``environ``) and the config file, validated.

        Any invalid value becomes one :class:`ConfigError` naming the variable.
        """
        _ENVIRON_OVERRIDE["environ"] = environ
        try:
            return cls(**overrides)
        finally:
            _ENVIRON_OVERRIDE.pop("environ", None)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


# Settings.from_env(environ) hands its mapping to settings_customise_sources through this slot
# (pydantic-settings builds sources in a classmethod; it is only set for the duration of one call).
_ENVIRON_OVERRIDE: dict[str, Mapping[str, str] | None] = {}


def _describe(exc: ValidationError) -> str:
    """One line naming the first bad setting as the user would write it."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "settings"
    value = first.get("input")
    shown = "***" if "password" in name else repr(value)
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{ENV_PREFIX}{name.upper()}={shown}: {message}"


def environ_keys() -> list[str]:
    """The RETENTIO_* variables this version reads (for docs and `retentio --help`)."""
    return [ENV_PREFIX + name.upper() for name in Settings.model_fields]

