"""Build the pieces from settings: database, keys, protocols, channels. Used by the CLI, tasks and web."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .channels.base import Channel, Outgoing
from .channels.console import ConsoleChannel
from .channels.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from .channels.twilio_api import TwilioAccount
from .channels.twilio_sms import TwilioSMS
from .channels.twilio_voice import TwilioVoice
from .clock import Clock, SystemClock
from .crypto import EncryptionKeyError, Vault, embedded_key
from .db import make_engine, session_factory
from .engine.context import Context, ProtocolStore, Tuning
from .models import Participant
from .settings import TWILIO_SEND_WAIT, ChannelKind, Settings


class RuntimeError_(Exception):
    """The service cannot start with these settings."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    ctx: Context

    def close(self) -> None:
        self.engine.dispose()


def _embedded_dir(settings: Settings) -> Path:
    database = make_url(settings.database_url).database or "var/checkups.db"
    return Path(database).resolve().parent if database != ":memory:" else Path("var")


def session_secret(settings: Settings) -> str:
    """The key that signs staff sessions: ``CHECKUPS_SECRET_KEY``, or on the embedded install a file beside
    the database (made once, mode 0600)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.is_sqlite:
        return embedded_key(_embedded_dir(settings), "session.key", lambda: secrets.token_urlsafe(48))
    raise RuntimeError_("CHECKUPS_SECRET_KEY is required with PostgreSQL (it signs staff sessions)")


def vault_for(settings: Settings) -> Vault:
    if settings.encryption_key is not None:
        keys = settings.encryption_key.get_secret_value()
    elif settings.is_sqlite:
        keys = embedded_key(_embedded_dir(settings))
    else:
        raise RuntimeError_("CHECKUPS_ENCRYPTION_KEY is required with PostgreSQL (phone numbers are encrypted at rest)")
    try:
        return Vault(keys)
    except EncryptionKeyError as error:
        raise RuntimeError_(f"CHECKUPS_ENCRYPTION_KEY: {error}") from None


def tuning_from(settings: Settings) -> Tuning:
    return Tuning(
        batch_size=settings.batch_size,
        claim_lease=timedelta(seconds=settings.claim_lease_seconds),
        send_lease=timedelta(seconds=settings.send_lease_seconds),
    )


def build(
    settings: Settings,
    clock: Clock | None = None,
    echo: TextIO | None = None,
    tuning: Tuning | None = None,
    channels: dict[str, Channel] | None = None,
) -> Runtime:
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    vault = vault_for(settings)
    clock = clock or SystemClock()
    if channels is None:
        if settings.channel is ChannelKind.console:
            console = ConsoleChannel(
                engine,
                vault,
                clock.now,
                echo=echo,
                describe=_describer(factory, clock),
                latency=settings.console_latency_ms / 1000,
            )
            channels = {"sms": console, "voice": console}
        else:
            channels = twilio_channels(settings, clock)
    ctx = Context(
        vault=vault,
        protocols=ProtocolStore(settings.protocols_dir),
        channels=channels,
        clock=clock,
        tuning=tuning or tuning_from(settings),
        default_region=settings.default_region,
    )
    return Runtime(settings, engine, factory, ctx)


def twilio_channels(settings: Settings, clock: Clock) -> dict[str, Channel]:
    """The Twilio SMS and voice channels, sharing one client and one rate limiter.

    With ``CHECKUPS_REDIS_URL`` the send rate is shared by every worker through Redis; without it (the
    embedded set-up, one process) it is kept in this process.
    """
    if settings.twilio_account_sid is None or settings.twilio_auth_token is None or settings.public_base_url is None:
        raise RuntimeError_("CHECKUPS_CHANNEL=twilio needs the Twilio account and CHECKUPS_PUBLIC_BASE_URL")
    account = TwilioAccount(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        api_base=str(settings.twilio_api_base) if settings.twilio_api_base else None,
        timeout=settings.twilio_timeout_seconds,
    )
    client = account.client()
    limiter: RateLimiter = RedisRateLimiter.from_url(settings.redis_url) if settings.redis_url else LocalRateLimiter()
    common = {
        "public_base_url": str(settings.public_base_url),
        "now": clock.now,
        "limiter": limiter,
        "rate_per_second": settings.twilio_rate_per_second,
        "max_wait": TWILIO_SEND_WAIT,
    }
    sms = TwilioSMS(
        client,
        from_number=settings.twilio_from,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        request_timeout=settings.twilio_timeout_seconds,
        **common,  # type: ignore[arg-type]
    )
    voice = TwilioVoice(client, from_number=settings.twilio_from, **common)  # type: ignore[arg-type]
    return {"sms": sms, "voice": voice}


def _describer(factory: sessionmaker[Session], clock: Clock):
    """For the console's terminal echo: who (client reference) and when, in their local time."""
    from .protocols.schedule import zone

    refs: dict[int, str] = {}

    def describe(message: Outgoing) -> str:
        if message.participant_id not in refs:
            with factory() as session:
                ref = session.scalars(
                    select(Participant.client_ref).where(Participant.id == message.participant_id)
                ).first()
            refs[message.participant_id] = ref or "?"
        when = clock.now()
        if message.timezone:
            when = when.astimezone(zone(message.timezone))
        return f"{when:%a %d %b %H:%M %Z} to {refs[message.participant_id]}"

    return describe
