"""The channel interface: one small class per way of reaching people.

A channel sends one message (or places one call) and can look up whether a message it may have sent did
go out (reconciliation after a crash or a timeout). Provider errors become one :class:`ChannelError`; no
SDK exception escapes a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    key: str  # unique per attempt; what reconciliation looks for
    participant_id: int
    to: str  # E.164
    body: str
    kind: str  # MessageKind value
    channel: str  # "sms" or "voice"
    valid_until: datetime | None = None  # do not deliver after this (the end of the send window)
    timezone: str | None = None  # the participant's, for display only


@dataclass(frozen=True)
class Receipt:
    sid: str
    segments: int = 1


class ChannelError(Exception):
    """The provider did not take the message."""

    def __init__(
        self, message: str, *, permanent: bool = False, code: str | None = None, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        # The request may have reached the provider (a timeout, a dropped connection): reconcile before
        # any retry, never resend blindly.
        self.outcome_unknown = outcome_unknown


class Channel(Protocol):
    kind: str

    def send(self, message: Outgoing) -> Receipt:
        """Send ``message``; raise :class:`ChannelError` if the provider refuses or cannot be reached."""
        ...

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        """The receipt if ``message`` (same key) did reach the provider, else None."""
        ...
