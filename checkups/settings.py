"""Settings from the environment (``CHECKUPS_`` prefix) and ``.env``.

A bad value stops start-up with a message naming the variable; see :func:`load_settings`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CHECKUPS_"
TWILIO_SEND_WAIT = 20.0  # seconds a Twilio send may wait for its turn under the rate limit


class ChannelKind(StrEnum):
    console = "console"
    twilio = "twilio"


class LogFormat(StrEnum):
    auto = "auto"  # readable on a terminal, JSON otherwise
    console = "console"
    json = "json"


class Settings(BaseSettings):
    """Everything the service reads from its environment. Secrets are ``SecretStr``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    database_url: str = "sqlite:///./var/checkups.db"
    redis_url: str | None = None
    protocols_dir: Path = Path("config/protocols")
    secret_key: SecretStr | None = None
    encryption_key: SecretStr | None = None
    public_base_url: AnyHttpUrl | None = None
    channel: ChannelKind = ChannelKind.console
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: AnyHttpUrl | None = None
    # Messages (and calls) per second per sender, shared by all workers through Redis: about 1 for a
    # long code; 10 or more for a toll-free number, a short code or a Messaging Service with a pool.
    twilio_rate_per_second: float = Field(default=1, gt=0, le=1000)
    # Connect and read timeout of each Twilio request; a create that times out is reconciled, not resent.
    twilio_timeout_seconds: float = Field(default=15, gt=0, le=60)
    log_format: LogFormat = LogFormat.auto
    log_level: str = "INFO"
    default_region: str = "GB"  # for phone numbers written without +country code
    # Leases: a claimed action not started within claim_lease, or a send not finished within send_lease,
    # is returned by the sweeper (a lost task, a dead worker). send_lease must exceed any provider timeout.
    claim_lease_seconds: float = Field(default=300, gt=0)
    send_lease_seconds: float = Field(default=120, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # Simulated provider latency for the console channel (demos, tests of a worker dying mid-send).
    console_latency_ms: int = Field(default=0, ge=0, le=60_000)
    # Staff pages: the zone their times are shown in, and whether session cookies are https-only (set it
    # true behind TLS; the embedded demo on http://127.0.0.1 needs it false).
    staff_timezone: str = "UTC"
    secure_cookies: bool = False
    session_hours: float = Field(default=12, gt=0, le=24 * 30)

    @field_validator("staff_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/London") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(f"must be a sqlite:// or postgresql:// URL, not {scheme!r}")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid_shape(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("AC") and len(value) == 34):
            raise ValueError("must be a Twilio Account SID: 'AC' followed by 32 characters")
        return value

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _service_sid_shape(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("MG") and len(value) == 34):
            raise ValueError("must be a Messaging Service SID: 'MG' followed by 32 characters")
        return value

    @model_validator(mode="after")
    def _twilio_complete(self) -> Settings:
        if self.channel is ChannelKind.twilio:
            missing = [
                name
                for name in ("twilio_account_sid", "twilio_auth_token", "public_base_url")
                if getattr(self, name) is None
            ]
            if self.twilio_from is None and self.twilio_messaging_service_sid is None:
                missing.append("twilio_from")
            if missing:
                names = ", ".join(ENV_PREFIX + m.upper() for m in missing)
                raise ValueError(f"CHECKUPS_CHANNEL=twilio needs {names}")
            # A send may wait for its turn (up to TWILIO_SEND_WAIT) and then for Twilio's answer.
            if self.send_lease_seconds <= self.twilio_timeout_seconds + TWILIO_SEND_WAIT:
                raise ValueError(
                    "CHECKUPS_SEND_LEASE_SECONDS must be longer than CHECKUPS_TWILIO_TIMEOUT_SECONDS plus "
                    f"{TWILIO_SEND_WAIT:.0f} s (the longest wait for a send turn)"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class SettingsError(Exception):
    """The settings are not valid."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def describe_validation_error(error: ValidationError) -> list[str]:
    """Turn pydantic's error into one line per variable, each naming the variable."""
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        if loc:
            problems.append(f"{ENV_PREFIX}{loc[0].upper()}: {message}")
        else:
            problems.append(message)
    return problems


def load_settings(**overrides: object) -> Settings:
    """Read the settings, raising :class:`SettingsError` with readable lines when a value is bad."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
