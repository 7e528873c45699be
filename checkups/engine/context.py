"""What engine functions need besides a session: keys, protocols, channels, clock and tuning."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..channels.base import Channel
from ..clock import Clock, SystemClock
from ..crypto import Vault
from ..models import ProtocolVersion
from ..protocols.loader import Catalog, ProtocolError, load_text
from ..protocols.schema import Protocol


@dataclass(frozen=True)
class Tuning:
    batch_size: int = 500  # check-ups claimed per query
    claim_lease: timedelta = timedelta(minutes=5)  # a claimed action not started by then is returned
    send_lease: timedelta = timedelta(minutes=2)  # longer than any provider request (Twilio: 30 s)
    retry_delays: tuple[timedelta, ...] = (timedelta(minutes=5), timedelta(minutes=10))  # transient errors
    reconcile_delay: timedelta = timedelta(minutes=1)  # before looking up a send whose outcome is unknown
    tick_budget: timedelta = timedelta(seconds=4)  # a tick stops claiming after this, before the next one


class ProtocolStore:
    """Protocols by name (from the folder, for new enrolments) and by stored version (for running ones)."""

    def __init__(self, directory: Path | None = None, catalog: Catalog | None = None) -> None:
        self._directory = directory
        self._catalog = catalog
        self._by_version_id: dict[int, Protocol] = {}

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            if self._directory is None:
                raise ValueError("no protocols folder configured")
            self._catalog = Catalog.from_directory(self._directory)
        return self._catalog

    def reload(self) -> None:
        """Read the folder again (new enrolments get the edited files; running ones keep their version)."""
        self._catalog = None

    def current(self, name: str) -> Protocol:
        return self.catalog.get(name)

    def ensure_version(self, session: Session, protocol: Protocol, now: datetime) -> ProtocolVersion:
        row = session.scalars(
            select(ProtocolVersion).where(
                ProtocolVersion.name == protocol.name, ProtocolVersion.version == protocol.version
            )
        ).first()
        if row is None:
            row = ProtocolVersion(name=protocol.name, version=protocol.version, source=protocol.source, created_at=now)
            session.add(row)
            session.flush()
        self._by_version_id.setdefault(row.id, protocol)
        return row

    def by_version_id(self, session: Session, version_id: int) -> Protocol:
        protocol = self._by_version_id.get(version_id)
        if protocol is None:
            row = session.get(ProtocolVersion, version_id)
            if row is None:
                raise KeyError(f"protocol version {version_id} is not stored")
            protocol = _parse_stored(row.name, row.source)
            self._by_version_id[version_id] = protocol
        return protocol


@lru_cache(maxsize=256)
def _parse_stored(name: str, source: str) -> Protocol:
    result = load_text(source, f"<stored {name}>")
    if result.protocol is None:
        raise ProtocolError(result.errors)
    return result.protocol


@dataclass
class Context:
    vault: Vault
    protocols: ProtocolStore
    channels: dict[str, Channel]  # by participant channel: "sms", "voice"
    clock: Clock = field(default_factory=SystemClock)
    tuning: Tuning = field(default_factory=Tuning)
    default_region: str = "GB"

    def now(self) -> datetime:
        return self.clock.now()

    def channel(self, kind: str) -> Channel:
        try:
            return self.channels[kind]
        except KeyError:
            raise ValueError(f"no channel configured for {kind!r}") from None
