"""The Twilio voice channel: places one outbound call; the web app then serves its TwiML step by step.

Twilio requests ``<public base URL>/twilio/voice/start?checkup=<attempt key>`` when the call is answered,
with ``AnsweredBy`` from answering machine detection; the web app answers with TwiML built by
:mod:`.voice_twiml` (the questions for a person, a short discreet message for a machine). Call progress
(``initiated``, ``ringing``, ``answered``, ``completed`` with ``CallStatus`` completed, busy, no-answer or
failed) is posted to ``/twilio/status``.

Machine detection is ``DetectMessageEnd``, not ``Enable``: with ``Enable`` Twilio reports a machine as soon
as the greeting starts, and a message played then is lost under the greeting; ``DetectMessageEnd`` waits
for the beep, so the voicemail holds the whole message. A person is reported as quickly either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import urlencode

from twilio.rest import Client

from ..logging import get_logger
from .base import ChannelError, Outgoing, Receipt
from .ratelimit import RateLimited, RateLimiter, RateLimiterUnavailable, wait_turn
from .twilio_api import LOOKUP_LIMIT, LOOKUP_SKEW, channel_error, utc

log = get_logger(__name__)

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
# A call needs time to ring and to be answered inside the window; with less left it waits for the next.
MIN_WINDOW_LEFT = 300  # seconds
DEFAULT_MAX_WAIT = 20.0


def start_url(public_base_url: str, key: str) -> str:
    """Where Twilio asks for the first TwiML of the call for attempt ``key``."""
    return public_base_url.rstrip("/") + "/twilio/voice/start?" + urlencode({"checkup": key})


class TwilioVoice:
    kind = "twilio_voice"

    def __init__(
        self,
        client: Client,
        *,
        public_base_url: str,
        now: Callable[[], datetime],
        limiter: RateLimiter,
        from_number: str | None,
        rate_per_second: float = 1.0,
        max_wait: float = DEFAULT_MAX_WAIT,
        ring_seconds: int = 45,
        time_limit: int = 600,
        machine_detection: str = "DetectMessageEnd",
        status_events: Sequence[str] = STATUS_EVENTS,
    ) -> None:
        self._client = client
        self._from = from_number
        self._base = public_base_url.rstrip("/")
        self._now = now
        self._limiter = limiter
        self._rate = rate_per_second
        self._max_wait = max_wait
        self._ring_seconds = ring_seconds
        self._time_limit = time_limit
        self._machine_detection = machine_detection
        self._events = list(status_events)
        # Twilio limits calls per second per account (1 by default), whatever the number.
        self._sender = f"voice:{client.account_sid}"

    def send(self, message: Outgoing) -> Receipt:
        if not self._from:
            # A Messaging Service can only send messages: calls need a number of ours as caller id.
            raise ChannelError(
                "voice calls need CHECKUPS_TWILIO_FROM (a Twilio number)", permanent=True, code="no-from"
            )
        self._check_window(message)
        try:
            wait_turn(self._limiter, self._sender, self._rate, self._max_wait)
        except RateLimited:
            raise ChannelError("too many calls just now", code="rate-limited") from None
        except RateLimiterUnavailable as error:
            raise ChannelError(f"the shared send rate limit is unreachable ({error})", code="rate-limiter") from None
        self._check_window(message)
        try:
            call = self._client.calls.create(
                to=message.to,
                from_=self._from,
                url=start_url(self._base, message.key),
                method="POST",
                status_callback=self._base + "/twilio/status",
                status_callback_event=self._events,
                status_callback_method="POST",
                machine_detection=self._machine_detection,
                timeout=self._ring_seconds,
                time_limit=self._time_limit,
            )
        except Exception as error:
            failure = channel_error(error, "call not placed", creating=True)
            log.warning(
                "twilio call refused" if not failure.outcome_unknown else "twilio call outcome unknown",
                participant_id=message.participant_id,
                code=failure.code,
                permanent=failure.permanent,
            )
            raise failure from None
        log.info("twilio call placed", participant_id=message.participant_id, sid=call.sid)
        return Receipt(sid=str(call.sid), segments=1)

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        """The call Twilio holds for this attempt, if any: to this number, from ours, created at or after
        ``sent_after`` (less a little clock skew); the most recent one.

        Calls carry no text to compare, so a second call to the same person within minutes would be taken
        for this one; the engine reconciles an attempt before it makes another. ``StartTime`` filters by
        day only and is empty until a call is dialled, so, as for SMS, the latest calls to the number are
        read too, without it, and both are searched.
        """
        if not self._from:
            return None
        since = utc(sent_after) - LOOKUP_SKEW
        try:
            dated = self._client.calls.list(
                to=message.to, from_=self._from, start_time_after=since.date().isoformat(), limit=LOOKUP_LIMIT
            )
            latest = self._client.calls.list(to=message.to, from_=self._from, limit=LOOKUP_LIMIT)
            found = self._match([*dated, *latest], since)
        except Exception as error:
            raise channel_error(error, "call lookup failed", creating=False) from None
        if found is None:
            log.info("twilio call lookup: not found", participant_id=message.participant_id)
            return None
        log.info("twilio call lookup: found", participant_id=message.participant_id, sid=found.sid)
        return Receipt(sid=str(found.sid), segments=1)

    @staticmethod
    def _match(records, since: datetime):  # type: ignore[no-untyped-def]
        candidates = [
            c
            for c in records
            if (c.direction or "").startswith("outbound")
            and c.date_created is not None
            and utc(c.date_created) >= since
        ]
        return max(candidates, key=lambda c: c.date_created, default=None)

    def _check_window(self, message: Outgoing) -> None:
        if message.valid_until is None:
            return
        if (utc(message.valid_until) - utc(self._now())).total_seconds() < MIN_WINDOW_LEFT:
            raise ChannelError("the call window is about to close", code="window-closing")
