"""Channels: console (no provider) and, behind the same interface, Twilio SMS and voice.

:data:`CHANNELS` is the registry of channel classes by kind. Which ones a process uses, and for which
participant channel ("sms", "voice"), is decided from the settings in :func:`checkups.runtime.build`.
"""

from __future__ import annotations

from .base import Channel, ChannelError, Outgoing, Receipt
from .console import ConsoleChannel
from .twilio_sms import TwilioSMS
from .twilio_voice import TwilioVoice

CHANNELS: dict[str, type] = {cls.kind: cls for cls in (ConsoleChannel, TwilioSMS, TwilioVoice)}

__all__ = ["CHANNELS", "Channel", "ChannelError", "ConsoleChannel", "Outgoing", "Receipt", "TwilioSMS", "TwilioVoice"]
