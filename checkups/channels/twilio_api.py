"""What the Twilio SMS and voice channels share: the client, and the one place Twilio errors are mapped.

Every request goes through the real ``twilio`` library. Nothing it raises leaves a channel: a refusal
becomes a :class:`ChannelError` that says whether retrying can help (``permanent``), carries Twilio's
error code (the engine acts on 21610, the unusable-number codes and 20429), and whether the request
may have reached Twilio after all (``outcome_unknown``: reconcile, never resend blindly).

Messages are ours, never Twilio's text: Twilio's error messages quote the phone number ("The 'To' number
+44... is not a valid phone number"), and a ChannelError's message is logged and stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import requests
import urllib3.exceptions
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .base import ChannelError

DEFAULT_TIMEOUT = 15.0  # seconds, connect and read; well inside the engine's send lease (120 s)

# Twilio error codes (https://www.twilio.com/docs/api/errors).
OPTED_OUT = 21610  # the recipient replied STOP to this sender: Twilio refuses until they reply START
RATE_LIMITED = 20429  # too many requests (HTTP 429)
AUTHENTICATION = 20003
# The number cannot receive our messages or calls, whatever we do: staff must check it.
UNUSABLE_NUMBER = frozenset(
    {
        13224,  # voice: not a valid phone number
        21211,  # invalid 'To' phone number
        21214,  # voice: 'To' number cannot be reached
        21217,  # voice: phone number does not appear to be valid
        21401,  # invalid phone number
        21407,  # this phone number type does not support SMS or MMS
        21421,  # phone number is invalid
        21612,  # Twilio cannot route to this number
        21614,  # 'To' number is not a valid mobile number
        21635,  # 'To' number cannot be reached: a landline
        30005,  # unknown destination handset
        30006,  # landline or unreachable carrier
    }
)

_DESCRIPTIONS = {
    OPTED_OUT: "the recipient has opted out of messages from this sender (STOP)",
    RATE_LIMITED: "Twilio is rate limiting our requests",
    AUTHENTICATION: (
        "Twilio refused the account credentials: check CHECKUPS_TWILIO_ACCOUNT_SID and CHECKUPS_TWILIO_AUTH_TOKEN"
    ),
    30003: "the handset is unreachable (switched off or out of coverage)",
    30004: "the message was blocked",
    30007: "the carrier filtered the message",
    30008: "unknown delivery error",
}


class Severity(StrEnum):
    """What an error code means for the message, and for the participant's number."""

    opted_out = "opted_out"  # permanent; the participant must be marked opted out
    unusable_number = "unusable_number"  # permanent; the number must be flagged for staff
    permanent = "permanent"  # this request will never succeed as it is
    transient = "transient"  # try again later


def severity(code: int | str | None, http_status: int | None = None) -> Severity:
    """Classify a Twilio error code, from an API response or a status callback's ``ErrorCode``."""
    try:
        number = int(code) if code is not None else None
    except ValueError:
        number = None
    if number == OPTED_OUT:
        return Severity.opted_out
    if number in UNUSABLE_NUMBER:
        return Severity.unusable_number
    if number == RATE_LIMITED or http_status == 429:
        return Severity.transient
    if http_status is not None and http_status >= 500:
        return Severity.transient
    if number is not None and 30000 <= number < 40000:
        return Severity.transient  # delivery errors (30003 unreachable, 30008 unknown...) may clear
    if http_status is not None and 400 <= http_status < 500:
        return Severity.permanent  # the request itself is wrong (a parameter, the account, the sender)
    return Severity.transient


def describe(code: int | None, http_status: int | None) -> str:
    if code in _DESCRIPTIONS:
        return _DESCRIPTIONS[code]
    if code in UNUSABLE_NUMBER:
        return "the number cannot receive messages or calls"
    if http_status is not None and http_status >= 500:
        return f"Twilio had a server error (HTTP {http_status})"
    return "Twilio refused the request"


def error_from_rest(error: TwilioRestException | TwilioServiceException, what: str) -> ChannelError:
    """The ChannelError for Twilio's answer to a request (an HTTP status and, usually, an error code)."""
    status = int(error.status) if error.status is not None else None
    try:
        code = int(error.code) if error.code is not None else None
    except (TypeError, ValueError):
        code = None
    if status == 429 and code in (None, 429):
        code = RATE_LIMITED
    if status == 401 and code in (None, 401):
        code = AUTHENTICATION
    kind = severity(code, status)
    label = str(code) if code is not None and code != status else f"http-{status}"
    permanent = kind in (Severity.opted_out, Severity.unusable_number, Severity.permanent)
    return ChannelError(f"{what}: {describe(code, status)} (Twilio {label})", permanent=permanent, code=label)


def _refused_before_sending(error: requests.exceptions.RequestException) -> bool:
    """True if the connection failed before the request went out (so Twilio cannot have it)."""
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(error, requests.exceptions.ProxyError):
        return True
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
            return True  # refused, unresolvable, or no answer to connect
        if isinstance(cause, urllib3.exceptions.MaxRetryError):
            cause = cause.reason
            continue
        if cause.args and isinstance(cause.args[0], BaseException):
            cause = cause.args[0]
            continue
        cause = cause.__cause__ or cause.__context__
    return False


def channel_error(error: Exception, what: str, *, creating: bool) -> ChannelError:
    """Map anything raised during a Twilio request to a ChannelError.

    ``creating``: the request would create a message or call. Then a failure after the request may have
    gone out (a read timeout, a dropped connection, an unreadable answer) leaves the outcome unknown.
    For a read-only request (a lookup) every such failure is simply transient.
    """
    if isinstance(error, TwilioRestException | TwilioServiceException):
        return error_from_rest(error, what)
    if isinstance(error, requests.exceptions.RequestException):
        if _refused_before_sending(error):
            return ChannelError(f"{what}: could not connect to Twilio", code="connect")
        if isinstance(error, requests.exceptions.ReadTimeout):
            return ChannelError(f"{what}: no answer from Twilio in time", code="timeout", outcome_unknown=creating)
        return ChannelError(
            f"{what}: the connection to Twilio broke off", code="connection-lost", outcome_unknown=creating
        )
    if isinstance(error, TwilioException | json.JSONDecodeError | ValueError | KeyError):
        # A page that is not 200, or an answer we cannot read: Twilio answered, but not as expected.
        return ChannelError(f"{what}: unreadable answer from Twilio", code="bad-answer", outcome_unknown=creating)
    return ChannelError(f"{what}: {type(error).__name__}", code="error", outcome_unknown=creating)


@dataclass(frozen=True)
class TwilioAccount:
    """How to reach Twilio: the account, and an optional API address (the local fake)."""

    account_sid: str
    auth_token: str
    api_base: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:  # never show the token
        return f"TwilioAccount(account_sid={self.account_sid!r}, api_base={self.api_base!r})"

    def client(self) -> Client:
        """A twilio Client with a request timeout, pointed at ``api_base`` when set.

        No retries in the HTTP layer (requests' default for plain adapters, and TwilioHttpClient adds none
        unless asked): a retried POST could create a second message; the engine decides about retries.
        """
        http = TwilioHttpClient(timeout=self.timeout)
        # environment={} would fall back to os.environ; our settings, not TWILIO_* variables, configure this.
        client = Client(self.account_sid, self.auth_token, http_client=http, environment={"CHECKUPS": "1"})
        if self.api_base:
            # Every resource URL is the Api domain's base_url + "/2010-04-01/Accounts/...".
            client.api.base_url = self.api_base.rstrip("/")
        return client


def utc(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


# Reconciliation: our record of an attempt is written just before the request, and Twilio's clock may be
# a little off ours; accept what Twilio created from this long before.
LOOKUP_SKEW = timedelta(minutes=2)
LOOKUP_LIMIT = 100  # records read per lookup query; a participant gets a few messages a day at most
