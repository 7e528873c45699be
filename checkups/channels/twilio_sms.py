"""The Twilio SMS channel: one message, from our number or a Messaging Service, that never lands at night.

- ``ValidityPeriod`` is what is left of the participant's send window (``Outgoing.valid_until``), so a
  message held in Twilio's queue is dropped by Twilio rather than delivered after the window closes.
  With less than :data:`MIN_VALIDITY` left, nothing is sent: a transient error (code ``window-closing``)
  hands the check-up back to the engine, which defers it to the next window.
- The text is made GSM-friendly first (see :mod:`.encoding`), and the receipt counts its parts.
- Each send takes a turn from the sender's rate limit (see :mod:`.ratelimit`).
- Status callbacks go to ``<public base URL>/twilio/status``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from twilio.rest import Client

from ..logging import get_logger
from .base import ChannelError, Outgoing, Receipt
from .encoding import gsm_friendly, segments
from .ratelimit import RateLimited, RateLimiter, RateLimiterUnavailable, wait_turn
from .twilio_api import LOOKUP_LIMIT, LOOKUP_SKEW, channel_error, utc

log = get_logger(__name__)

MAX_VALIDITY = 36_000  # seconds: Twilio's limit (and its default)
# Less than this left of the window and the message is not sent: a message queued for a few seconds
# would mostly expire at Twilio, and a reply would come after the window anyway.
MIN_VALIDITY = 60
DEFAULT_MAX_WAIT = 20.0  # seconds a send may wait for its turn before giving up (transient)


def validity_seconds(now: datetime, valid_until: datetime | None, margin: float = 0.0) -> int | None:
    """The ValidityPeriod for a message sent at ``now``: whole seconds to ``valid_until`` less ``margin``
    (the request's own travel time: Twilio counts from when it receives the request), at most Twilio's
    maximum. None when there is no window to respect; below :data:`MIN_VALIDITY` when too little is left.
    """
    if valid_until is None:
        return None
    left = (utc(valid_until) - utc(now)).total_seconds() - margin
    return min(MAX_VALIDITY, math.floor(left))


class TwilioSMS:
    kind = "twilio_sms"

    def __init__(
        self,
        client: Client,
        *,
        public_base_url: str,
        now: Callable[[], datetime],
        limiter: RateLimiter,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        rate_per_second: float = 1.0,
        max_wait: float = DEFAULT_MAX_WAIT,
        request_timeout: float = 15.0,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("TwilioSMS needs a from number or a Messaging Service SID")
        self._client = client
        self._from = from_number
        self._service = messaging_service_sid
        self._status_callback = public_base_url.rstrip("/") + "/twilio/status"
        self._now = now
        self._limiter = limiter
        self._rate = rate_per_second
        self._max_wait = max_wait
        self._margin = request_timeout
        # The sender whose rate is limited: a Messaging Service spreads over its own pool of numbers.
        self._sender = f"sms:{messaging_service_sid or from_number}"

    def send(self, message: Outgoing) -> Receipt:
        body = gsm_friendly(message.body)
        self._validity(message)  # before waiting for a turn: no turn is spent on a closing window
        self._take_turn(message)
        validity = self._validity(message)  # and again after: measured at the moment of the request
        params: dict[str, object] = {
            "to": message.to,
            "body": body,
            "status_callback": self._status_callback,
            # Our own substitution is enough, and Twilio must store exactly what we sent: reconciliation
            # recognises a message by its text (a Messaging Service may have Smart Encoding on).
            "smart_encoded": False,
        }
        if self._from:
            params["from_"] = self._from
        if self._service:
            params["messaging_service_sid"] = self._service
        if validity is not None:
            params["validity_period"] = validity
        try:
            created = self._client.messages.create(**params)  # type: ignore[arg-type]
        except Exception as error:
            failure = channel_error(error, "SMS not sent", creating=True)
            log.warning(
                "twilio sms refused" if not failure.outcome_unknown else "twilio sms outcome unknown",
                participant_id=message.participant_id,
                code=failure.code,
                permanent=failure.permanent,
            )
            raise failure from None
        count = segments(body)
        log.info(
            "twilio sms accepted",
            participant_id=message.participant_id,
            sid=created.sid,
            segments=count,
            validity=validity,
        )
        return Receipt(sid=str(created.sid), segments=count)

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        """The message Twilio holds for this attempt, if any.

        Twilio has no idempotency key and our key is not in the text, so an attempt is recognised by
        recipient, sender and text, created at or after ``sent_after`` (less :data:`LOOKUP_SKEW`); the most
        recent such message is taken. Limits:

        - Twilio filters the list by ``DateSent`` at day granularity (GMT), so the query asks for the
          whole day(s) and the time is checked here against ``date_created``.
        - A message still queued at Twilio has no ``DateSent`` and is missing from that query, so the
          latest messages to the number are read too, without the date filter, and both are searched.
        - The same text sent to the same person twice within minutes would be taken for this attempt;
          the engine reconciles an attempt before making another, and the texts of one check-up differ.
        """
        since = utc(sent_after) - LOOKUP_SKEW
        body = gsm_friendly(message.body)
        sender = {"from_": self._from} if self._from else {}
        try:
            dated = self._client.messages.list(
                to=message.to, date_sent_after=since.date().isoformat(), limit=LOOKUP_LIMIT, **sender
            )
            latest = self._client.messages.list(to=message.to, limit=LOOKUP_LIMIT, **sender)
            found = self._match([*dated, *latest], body, since)
        except Exception as error:
            raise channel_error(error, "SMS lookup failed", creating=False) from None
        if found is None:
            log.info("twilio sms lookup: not found", participant_id=message.participant_id)
            return None
        log.info("twilio sms lookup: found", participant_id=message.participant_id, sid=found.sid)
        try:
            count = int(found.num_segments or 0)
        except ValueError:
            count = 0
        return Receipt(sid=str(found.sid), segments=count or segments(body))

    def _match(self, records, body: str, since: datetime):  # type: ignore[no-untyped-def]
        candidates = [
            m
            for m in records
            if (m.direction or "").startswith("outbound")
            and m.body == body
            and m.date_created is not None
            and utc(m.date_created) >= since
            and (self._service is None or m.messaging_service_sid == self._service)
        ]
        return max(candidates, key=lambda m: m.date_created, default=None)

    def _validity(self, message: Outgoing) -> int | None:
        validity = validity_seconds(self._now(), message.valid_until, self._margin)
        if validity is not None and validity < MIN_VALIDITY:
            raise ChannelError("the send window is about to close", code="window-closing")
        return validity

    def _take_turn(self, message: Outgoing) -> None:
        try:
            waited = wait_turn(self._limiter, self._sender, self._rate, self._max_wait)
        except RateLimited:
            log.info("twilio sms rate limited here", participant_id=message.participant_id)
            raise ChannelError("too many messages for this sender just now", code="rate-limited") from None
        except RateLimiterUnavailable as error:
            raise ChannelError(f"the shared send rate limit is unreachable ({error})", code="rate-limiter") from None
        if waited > 1:
            log.info("twilio sms waited for its turn", participant_id=message.participant_id, waited=round(waited, 1))
