"""Test support shipped with the package: a Twilio stand-in the real ``twilio`` client talks to."""

from __future__ import annotations

from .twilio_fake import ApiRequest, FakeCall, FakeMessage, Outcome, TwilioFake, Webhook

__all__ = ["ApiRequest", "FakeCall", "FakeMessage", "Outcome", "TwilioFake", "Webhook"]
