"""Channels: console (no provider) and, behind the same interface, Twilio SMS and voice."""

from __future__ import annotations

from .base import Channel, ChannelError, Outgoing, Receipt

__all__ = ["Channel", "ChannelError", "Outgoing", "Receipt"]
