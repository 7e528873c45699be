"""A Twilio stand-in on loopback that the real ``twilio`` client talks to, for tests and the demo.

    with TwilioFake(account_sid, auth_token) as fake:
        account = TwilioAccount(account_sid, auth_token, api_base=fake.base_url, timeout=2)
        fake.script("+447700900123", Outcome.undelivered(30003))
        ...
        fake.settle()                       # wait until every status callback has been posted
        assert fake.messages[0].validity_period <= 3600

What it serves, with Twilio's JSON shapes and error bodies (``/2010-04-01/Accounts/{AccountSid}/...``):

- ``Messages.json`` POST (create) and GET (list: ``To``, ``From``, ``DateSent``/``DateSent<``/``DateSent>``,
  ``PageSize``, ``Page``/``PageToken``, with ``next_page_uri`` paging); ``Messages/{Sid}.json`` GET;
- ``Calls.json`` POST and GET (``To``, ``From``, ``Status``, ``StartTime``/``<``/``>``); ``Calls/{Sid}.json`` GET;
- ``{AccountSid}.json`` GET (the account: a cheap credentials check).

Every request needs HTTP basic auth with the account SID and token (401, code 20003, otherwise).

What happens to a create is scripted with :class:`Outcome` values, per destination number
(:meth:`TwilioFake.script`, used in order, the last one repeating) or for the next requests whatever the
number (:meth:`TwilioFake.queue`, used first). Unscripted messages are delivered and calls answered by a
person. After a create, the fake posts the status callbacks (SMS: queued, sent, delivered / undelivered /
failed with ``ErrorCode``; calls: initiated, ringing, answered, completed / busy / no-answer / failed, with
``AnsweredBy`` when machine detection was asked for), signed like Twilio's (``X-Twilio-Signature``), from
one background thread in order. When a call is answered it also requests the call's ``Url`` (signed) and
keeps the TwiML it gets back. :meth:`TwilioFake.simulate_reply` posts an inbound SMS to a webhook.

Everything received is kept for assertions: :attr:`messages`, :attr:`calls`, :attr:`requests`,
:attr:`callbacks`, :attr:`webhooks`. Thread-safe.

Time: ``now`` (default: the system clock) stamps the records; a message scripted to wait in the queue
(``queue_seconds``) longer than its ``ValidityPeriod`` fails with 30036, as at Twilio; nothing sleeps.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

from ..channels.encoding import segments

API_VERSION = "2010-04-01"
Kind = Literal["sms", "call"]

# Final statuses an outcome can script.
SMS_STATUSES = frozenset({"delivered", "undelivered", "failed", "queued"})
CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "queued"})

_ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
    21635: "The 'To' number {to} cannot be reached: it is a landline.",
}


@dataclass(frozen=True)
class Outcome:
    """What the fake does with one create request (a message or a call)."""

    status: str | None = None  # the final status (SMS_STATUSES, CALL_STATUSES); None: delivered / completed
    error_code: int | None = None  # with undelivered/failed: the resource's and callback's ErrorCode
    http_status: int | None = None  # refuse the request: this HTTP status, ``error_code`` in the body
    hold: float | None = None  # answer only after this many seconds (longer than the client waits)
    drop: bool = False  # close the connection without any answer
    queue_seconds: float = 0  # time spent in Twilio's queue before sending (checked against ValidityPeriod)
    answered_by: str | None = None  # calls with machine detection; None: "human", or a machine's default
    duration: int = 40  # seconds, for a completed call

    # -- messages
    @classmethod
    def delivered(cls, queue_seconds: float = 0) -> Outcome:
        return cls("delivered", queue_seconds=queue_seconds)

    @classmethod
    def undelivered(cls, code: int = 30003) -> Outcome:
        return cls("undelivered", error_code=code)

    @classmethod
    def failed(cls, code: int = 30008) -> Outcome:
        return cls("failed", error_code=code)

    @classmethod
    def queued(cls) -> Outcome:
        """Accepted and left in the queue: no ``date_sent``, no callbacks after ``queued``."""
        return cls("queued")

    # -- calls
    @classmethod
    def answered(cls, by: str = "human", duration: int = 40) -> Outcome:
        return cls("completed", answered_by=by, duration=duration)

    @classmethod
    def machine(cls, by: str | None = None) -> Outcome:
        """Answered by a machine (``machine_end_beep`` with DetectMessageEnd, ``machine_start`` with Enable)."""
        return cls("completed", answered_by=by or "machine", duration=12)

    @classmethod
    def busy(cls) -> Outcome:
        return cls("busy")

    @classmethod
    def no_answer(cls) -> Outcome:
        return cls("no-answer")

    @classmethod
    def call_failed(cls) -> Outcome:
        return cls("failed")

    # -- either
    @classmethod
    def rejected(cls, code: int, http_status: int = 400) -> Outcome:
        """Refused at create with Twilio's error body (21211, 21610, 21614, 21635, ...): nothing created."""
        return cls("failed", error_code=code, http_status=http_status)

    @classmethod
    def rate_limited(cls) -> Outcome:
        return cls.rejected(20429, http_status=429)

    @classmethod
    def server_error(cls, http_status: int = 500) -> Outcome:
        return cls.rejected(20500 if http_status == 500 else 20503, http_status=http_status)

    @classmethod
    def timeout(cls, hold: float | None = None, then: Outcome | None = None) -> Outcome:
        """Created (and then delivered, or as ``then``), but the answer comes after the client gave up."""
        return replace(then or cls(), hold=hold if hold is not None else -1.0)

    @classmethod
    def dropped(cls, then: Outcome | None = None) -> Outcome:
        """Created, then the connection is closed without an answer (a reset after the request went out)."""
        return replace(then or cls(), drop=True)


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    status_callback: str | None
    validity_period: int | None
    direction: str
    status: str
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    error_code: int | None = None
    num_segments: int = 1
    params: dict[str, str] = field(default_factory=dict)  # the create request as received

    def resource(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": None if self.error_code is None else f"Error {self.error_code}",
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass
class FakeCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    method: str
    status_callback: str | None
    status_callback_events: list[str]
    machine_detection: str | None
    time_limit: int | None
    timeout: int | None
    status: str
    date_created: datetime
    date_updated: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    answered_by: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    twiml: list[str] = field(default_factory=list)  # what the call's Url answered

    def resource(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(self.date_created),
            "date_updated": _rfc2822(self.date_updated),
            "direction": "outbound-api",
            "duration": None if self.duration is None else str(self.duration),
            "end_time": _rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": _rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {"notifications": f"{uri}/Notifications.json", "recordings": f"{uri}/Recordings.json"},
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: dict[str, list[str]]
    status: int  # what the fake answered (0: nothing, the connection was dropped)


@dataclass(frozen=True)
class Webhook:
    """A request the fake made to one of our URLs (a status callback, a call's Url, an inbound SMS)."""

    url: str
    params: dict[str, str]
    signature: str | None
    status: int | None  # the HTTP status our side answered; None if it could not be reached
    text: str = ""
    error: str | None = None


def _rfc2822(instant: datetime | None) -> str | None:
    return None if instant is None else format_datetime(instant.astimezone(UTC))


def _new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+?)"
    r"(?:/(?P<resource>Messages|Calls)(?:/(?P<sid>[^/]+?))?)?\.json$"
)


class _Refusal(Exception):
    def __init__(self, status: int, code: int, **fields: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.fields = fields

    def body(self) -> dict[str, Any]:
        template = _ERROR_MESSAGES.get(self.code, "Error {code}")
        return {
            "code": self.code,
            "message": template.format(code=self.code, **{"to": "", "path": "", **self.fields}),
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


class TwilioFake:
    """A Twilio-compatible HTTP server on 127.0.0.1 (a free port), in a background thread."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "fake-auth-token-0000",  # noqa: S107 - a test value, not a credential
        *,
        now: Callable[[], datetime] | None = None,
        default_hold: float = 5.0,
        fetch_twiml: bool = True,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self._now = now or (lambda: datetime.now(UTC))
        self.default_hold = default_hold
        self.fetch_twiml = fetch_twiml
        self._webhook_timeout = webhook_timeout
        self._lock = threading.RLock()
        self._messages: list[FakeMessage] = []
        self._calls: list[FakeCall] = []
        self._requests: list[ApiRequest] = []
        self._webhooks: list[Webhook] = []
        self._queued: dict[Kind, deque[Outcome]] = {"sms": deque(), "call": deque()}
        self._scripts: dict[tuple[Kind, str], deque[Outcome]] = {}
        self._stopping = threading.Event()
        self._jobs: deque[Callable[[], None]] = deque()
        self._jobs_cond = threading.Condition()
        self._pending = 0
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._session = requests.Session()

    # -- life cycle --------------------------------------------------------------------------------------

    def start(self) -> TwilioFake:
        fake = self

        class Handler(_Handler):
            owner = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        worker = threading.Thread(target=self._work, name="twilio-fake-callbacks", daemon=True)
        self._threads = [serving, worker]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._jobs_cond:
            self._jobs_cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._session.close()

    def __enter__(self) -> TwilioFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The address to give the twilio client (``CHECKUPS_TWILIO_API_BASE``)."""
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting ---------------------------------------------------------------------------------------

    def script(self, to: str, *outcomes: Outcome, kind: Kind = "sms") -> None:
        """What happens to the next creates to ``to``, in order; the last one repeats."""
        if not outcomes:
            raise ValueError("script at least one outcome")
        for outcome in outcomes:
            _check_outcome(outcome, kind)
        with self._lock:
            self._scripts[(kind, to)] = deque(outcomes)

    def queue(self, *outcomes: Outcome, kind: Kind = "sms") -> None:
        """What happens to the next creates, whatever the number, before any per-number script."""
        for outcome in outcomes:
            _check_outcome(outcome, kind)
        with self._lock:
            self._queued[kind].extend(outcomes)

    def _next_outcome(self, kind: Kind, to: str) -> Outcome:
        with self._lock:
            if self._queued[kind]:
                return self._queued[kind].popleft()
            script = self._scripts.get((kind, to))
            if script:
                return script.popleft() if len(script) > 1 else script[0]
        return Outcome()

    # -- records -----------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[FakeMessage]:
        """Outbound messages created through the API, oldest first (copies)."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages if m.direction != "inbound"]

    @property
    def inbound(self) -> list[FakeMessage]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages if m.direction == "inbound"]

    @property
    def calls(self) -> list[FakeCall]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls]

    @property
    def requests(self) -> list[ApiRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def webhooks(self) -> list[Webhook]:
        """Every request the fake made to our side, in order."""
        with self._lock:
            return list(self._webhooks)

    @property
    def callbacks(self) -> list[Webhook]:
        """The status callbacks among :attr:`webhooks`."""
        return [w for w in self.webhooks if "MessageStatus" in w.params or "CallStatus" in w.params]

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every callback and webhook so far has been posted."""
        with self._jobs_cond:
            if not self._jobs_cond.wait_for(lambda: self._pending == 0, timeout=timeout):
                raise TimeoutError(f"{self._pending} Twilio fake callbacks still pending after {timeout} s")

    # -- our webhooks ------------------------------------------------------------------------------------

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return self.validator.compute_signature(url, dict(params))

    def post_webhook(
        self, url: str, params: Mapping[str, str], *, signature: str | Literal["sign"] | None = "sign"
    ) -> Webhook:
        """POST form ``params`` to ``url`` as Twilio does, signed (or with ``signature``, None for none)."""
        params = dict(params)
        sig = self.sign(url, params) if signature == "sign" else signature
        headers = {"X-Twilio-Signature": sig} if sig is not None else {}
        headers["User-Agent"] = "TwilioProxy/1.1"
        try:
            response = self._session.post(url, data=params, headers=headers, timeout=self._webhook_timeout)
            record = Webhook(url, params, sig, response.status_code, response.text)
        except requests.RequestException as error:
            record = Webhook(url, params, sig, None, error=type(error).__name__)
        with self._lock:
            self._webhooks.append(record)
        return record

    def simulate_reply(self, url: str, *, from_: str, to: str, body: str, message_sid: str | None = None) -> Webhook:
        """An inbound SMS from ``from_`` to our number ``to``, posted to our webhook ``url`` (signed).

        Pass the same ``message_sid`` twice to replay a webhook.
        """
        sid = message_sid or _new_sid("SM")
        now = self._now()
        with self._lock:
            if not any(m.sid == sid for m in self._messages):
                self._messages.append(
                    FakeMessage(
                        sid=sid,
                        account_sid=self.account_sid,
                        to=to,
                        from_=from_,
                        body=body,
                        messaging_service_sid=None,
                        status_callback=None,
                        validity_period=None,
                        direction="inbound",
                        status="received",
                        date_created=now,
                        date_updated=now,
                        date_sent=now,
                        num_segments=segments(body),
                    )
                )
        params = {
            "ToCountry": "",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": to,
            "NumSegments": str(segments(body)),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        return self.post_webhook(url, params)

    # -- background work ---------------------------------------------------------------------------------

    def _enqueue(self, job: Callable[[], None]) -> None:
        with self._jobs_cond:
            self._jobs.append(job)
            self._pending += 1
            self._jobs_cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._jobs_cond:
                self._jobs_cond.wait_for(lambda: self._jobs or self._stopping.is_set())
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            try:
                if not self._stopping.is_set():
                    job()
            finally:
                with self._jobs_cond:
                    self._pending -= 1
                    self._jobs_cond.notify_all()

    # -- the API -----------------------------------------------------------------------------------------

    def _record_request(self, method: str, path: str, params: dict[str, list[str]], status: int) -> None:
        with self._lock:
            self._requests.append(ApiRequest(method, path, params, status))

    def _create_message(self, p: dict[str, list[str]], outcome: Outcome) -> FakeMessage:
        to, from_, service = _one(p, "To"), _one(p, "From"), _one(p, "MessagingServiceSid")
        body = _one(p, "Body")
        if not to:
            raise _Refusal(400, 21604)
        if not re.fullmatch(r"\+[1-9]\d{6,14}", to):
            raise _Refusal(400, 21211, to=to)
        if not from_ and not service:
            raise _Refusal(400, 21603)
        if body is None or body == "":
            raise _Refusal(400, 21602)
        if len(body) > 1600:
            raise _Refusal(400, 21617)
        validity = _one(p, "ValidityPeriod")
        validity_period = None
        if validity is not None:
            if not validity.isdigit() or not 1 <= int(validity) <= 36000:
                raise _Refusal(400, 90007)
            validity_period = int(validity)
        if outcome.http_status is not None:
            raise _Refusal(outcome.http_status, outcome.error_code or outcome.http_status, to=to)
        now = self._now()
        message = FakeMessage(
            sid=_new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            messaging_service_sid=service,
            status_callback=_one(p, "StatusCallback"),
            validity_period=validity_period,
            direction="outbound-api",
            status="accepted" if service and not from_ else "queued",
            date_created=now,
            date_updated=now,
            num_segments=segments(body),
            params={k: v[-1] for k, v in p.items()},
        )
        with self._lock:
            self._messages.append(message)
        return message

    def _message_steps(self, message: FakeMessage, outcome: Outcome) -> list[tuple[str, int | None]]:
        steps: list[tuple[str, int | None]] = [("accepted", None)] if message.status == "accepted" else []
        steps.append(("queued", None))
        final = outcome.status or "delivered"
        if final == "queued":
            return steps
        if message.validity_period is not None and outcome.queue_seconds > message.validity_period:
            return [*steps, ("failed", 30036)]  # Validity Period Expired: Twilio does not send it
        if final == "failed":
            return [*steps, ("failed", outcome.error_code)]
        return [*steps, ("sent", None), (final, outcome.error_code)]

    def _progress_message(self, sid: str, steps: list[tuple[str, int | None]], queue_seconds: float) -> None:
        for status, code in steps:
            with self._lock:
                message = next(m for m in self._messages if m.sid == sid)
                if status in ("accepted", "queued") and message.status not in ("accepted", "queued"):
                    continue
                message.status = status
                message.error_code = code
                message.date_updated = self._now()
                if status == "sent":
                    message.date_sent = message.date_created + timedelta(seconds=queue_seconds)
                url = message.status_callback
                params = {
                    "AccountSid": message.account_sid,
                    "ApiVersion": API_VERSION,
                    "From": message.from_ or "",
                    "To": message.to,
                    "MessageSid": message.sid,
                    "SmsSid": message.sid,
                    "MessageStatus": status,
                    "SmsStatus": status,
                }
                if message.messaging_service_sid:
                    params["MessagingServiceSid"] = message.messaging_service_sid
                if code is not None:
                    params["ErrorCode"] = str(code)
            if url:
                self.post_webhook(url, params)

    def _create_call(self, p: dict[str, list[str]], outcome: Outcome) -> FakeCall:
        to, from_, url = _one(p, "To"), _one(p, "From"), _one(p, "Url")
        if not to:
            raise _Refusal(400, 21201)
        if not re.fullmatch(r"\+[1-9]\d{6,14}", to):
            raise _Refusal(400, 21211, to=to)
        if not from_:
            raise _Refusal(400, 21212)
        if not url and not _one(p, "Twiml") and not _one(p, "ApplicationSid"):
            raise _Refusal(400, 21205)
        if outcome.http_status is not None:
            raise _Refusal(outcome.http_status, outcome.error_code or outcome.http_status, to=to)
        now = self._now()
        call = FakeCall(
            sid=_new_sid("CA"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            url=url,
            method=(_one(p, "Method") or "POST").upper(),
            status_callback=_one(p, "StatusCallback"),
            status_callback_events=[e for v in p.get("StatusCallbackEvent", []) for e in v.split()],
            machine_detection=_one(p, "MachineDetection"),
            time_limit=_int(_one(p, "TimeLimit")),
            timeout=_int(_one(p, "Timeout")),
            status="queued",
            date_created=now,
            date_updated=now,
            params={k: (v if len(v) > 1 else v[-1]) for k, v in p.items()},
        )
        with self._lock:
            self._calls.append(call)
        return call

    def _progress_call(self, sid: str, outcome: Outcome) -> None:
        with self._lock:
            call = next(c for c in self._calls if c.sid == sid)
            detection = call.machine_detection
        final = outcome.status or "completed"
        if final == "queued":
            return
        answered_by = None
        if detection:
            answered_by = outcome.answered_by or "human"
            if answered_by == "machine":
                answered_by = "machine_end_beep" if detection == "DetectMessageEnd" else "machine_start"
        steps = ["initiated", "ringing"] if final != "failed" else ["initiated"]
        steps += ["in-progress", final] if final == "completed" else [final]
        sequence = itertools.count()
        for status in steps:
            with self._lock:
                call.status = status
                call.date_updated = self._now()
                if status == "ringing":
                    call.start_time = self._now()
                if status == "in-progress":
                    call.answered_by = answered_by
                if status in ("completed", "busy", "no-answer", "failed"):
                    call.end_time = self._now()
                    call.duration = outcome.duration if status == "completed" else 0
                event = {"in-progress": "answered"}.get(status, status)
                final = status in ("completed", "busy", "no-answer", "failed")
                wanted = final or event in call.status_callback_events
                params = {
                    "AccountSid": call.account_sid,
                    "ApiVersion": API_VERSION,
                    "CallSid": call.sid,
                    "CallStatus": status,
                    "Called": call.to,
                    "Caller": call.from_,
                    "Direction": "outbound-api",
                    "From": call.from_,
                    "To": call.to,
                    "Timestamp": _rfc2822(self._now()) or "",
                    "CallbackSource": "call-progress-events",
                    "SequenceNumber": str(next(sequence)),
                }
                if answered_by and status in ("in-progress", "completed"):
                    params["AnsweredBy"] = answered_by
                if status == "completed":
                    params["CallDuration"] = params["Duration"] = str(call.duration)
                url, method = call.url, call.method
                callback = call.status_callback
            if status == "in-progress" and url and self.fetch_twiml:
                answer = {k: params[k] for k in params if k not in ("Timestamp", "CallbackSource", "SequenceNumber")}
                result = self.post_webhook(url, answer) if method == "POST" else self._get_webhook(url, answer)
                with self._lock:
                    call.twiml.append(result.text)
            if callback and wanted:
                self.post_webhook(callback, params)

    def _get_webhook(self, url: str, params: dict[str, str]) -> Webhook:
        full = url + ("&" if "?" in url else "?") + urlencode(params)
        sig = self.sign(full, {})
        try:
            response = self._session.get(full, headers={"X-Twilio-Signature": sig}, timeout=self._webhook_timeout)
            record = Webhook(full, params, sig, response.status_code, response.text)
        except requests.RequestException as error:
            record = Webhook(full, params, sig, None, error=type(error).__name__)
        with self._lock:
            self._webhooks.append(record)
        return record

    def _list(self, kind: Kind, p: dict[str, list[str]], path: str) -> dict[str, Any]:
        page_size = min(max(_int(_one(p, "PageSize")) or 50, 1), 1000)
        page = max(_int(_one(p, "Page")) or 0, 0)
        with self._lock:
            if kind == "sms":
                rows: list[Any] = [
                    m
                    for m in self._messages
                    if _matches(p, "To", m.to)
                    and _matches(p, "From", m.from_)
                    and _in_dates(p, "DateSent", m.date_sent)
                ]
                rows.sort(key=lambda m: (m.date_sent is None, m.date_sent or m.date_created), reverse=True)
            else:
                rows = [
                    c
                    for c in self._calls
                    if _matches(p, "To", c.to)
                    and _matches(p, "From", c.from_)
                    and _matches(p, "Status", c.status)
                    and _in_dates(p, "StartTime", c.start_time)
                ]
                rows.sort(key=lambda c: (c.start_time is None, c.start_time or c.date_created), reverse=True)
            chunk = [r.resource() for r in rows[page * page_size : (page + 1) * page_size]]
        filters = {k: v[-1] for k, v in p.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(n: int) -> str:
            return path + "?" + urlencode({**filters, "PageSize": page_size, "Page": n, "PageToken": f"PA{n}"})

        more = (page + 1) * page_size < len(rows)
        return {
            "messages" if kind == "sms" else "calls": chunk,
            "end": page * page_size + max(len(chunk) - 1, 0),
            "first_page_uri": path + "?" + urlencode({**filters, "PageSize": page_size, "Page": 0}),
            "next_page_uri": uri(page + 1) if more else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": page * page_size,
            "uri": path + "?" + urlencode({**filters, "PageSize": page_size, "Page": page}),
        }

    def _fetch(self, kind: Kind, sid: str) -> dict[str, Any]:
        with self._lock:
            rows: Iterable[Any] = self._messages if kind == "sms" else self._calls
            for row in rows:
                if row.sid == sid:
                    return row.resource()
        raise _Refusal(404, 20404)

    def _account(self) -> dict[str, Any]:
        now = _rfc2822(self._now())
        return {
            "auth_token": "[hidden]",
            "date_created": now,
            "date_updated": now,
            "friendly_name": "checkups fake",
            "owner_account_sid": self.account_sid,
            "sid": self.account_sid,
            "status": "active",
            "subresource_uris": {},
            "type": "Full",
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}.json",
        }

    def _authorised(self, header: str | None, account: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.account_sid == account and password == self.auth_token

    def handle(self, handler: _Handler, method: str) -> None:
        """Serve one API request (called on the server's request thread)."""
        split = urlsplit(handler.path)
        params = parse_qs(split.query, keep_blank_values=True)
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = handler.rfile.read(length).decode("utf-8") if length else ""
            for key, values in parse_qs(form, keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
        match = _PATH.match(split.path)
        try:
            if match is None:
                raise _Refusal(404, 20404, path=split.path)
            if not self._authorised(handler.headers.get("Authorization"), match["account"]):
                raise _Refusal(401, 20003)
            resource, sid = match["resource"], match["sid"]
            if resource is None:
                if method != "GET":
                    raise _Refusal(405, 20004)
                return self._answer(handler, method, split.path, params, 200, self._account())
            kind: Kind = "sms" if resource == "Messages" else "call"
            if sid is not None:
                if method != "GET":
                    raise _Refusal(405, 20004)
                return self._answer(handler, method, split.path, params, 200, self._fetch(kind, sid))
            if method == "GET":
                return self._answer(handler, method, split.path, params, 200, self._list(kind, params, split.path))
            self._create(handler, kind, split.path, params)
        except _Refusal as refusal:
            self._answer(handler, method, split.path, params, refusal.status, refusal.body())

    def _create(self, handler: _Handler, kind: Kind, path: str, params: dict[str, list[str]]) -> None:
        outcome = self._next_outcome(kind, _one(params, "To") or "")
        if kind == "sms":
            message = self._create_message(params, outcome)
            steps = self._message_steps(message, outcome)
            resource = message.resource()

            def progress() -> None:
                self._progress_message(message.sid, steps, outcome.queue_seconds)
        else:
            call = self._create_call(params, outcome)
            resource = call.resource()

            def progress() -> None:
                self._progress_call(call.sid, outcome)

        if outcome.drop:
            self._record_request("POST", path, params, 0)
            self._enqueue(progress)
            handler.close_connection = True
            return
        if outcome.hold is not None:
            # Twilio has it, but the answer comes too late: the client has given up by then.
            self._enqueue(progress)
            self._stopping.wait(self.default_hold if outcome.hold < 0 else outcome.hold)
            self._answer(handler, "POST", path, params, 201, resource)
            return
        # Callbacks follow the answer, as at Twilio; but they count as pending from now, so that settle()
        # called as soon as the client has its answer waits for them.
        answered = threading.Event()

        def after_answer() -> None:
            answered.wait(timeout=10)
            progress()

        self._enqueue(after_answer)
        try:
            self._answer(handler, "POST", path, params, 201, resource)
        finally:
            answered.set()

    def _answer(
        self, handler: _Handler, method: str, path: str, params: dict[str, list[str]], status: int, body: Any
    ) -> None:
        self._record_request(method, path, params, status)
        data = json.dumps(body).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("Twilio-Request-Id", _new_sid("RQ"))
            if status == 401:
                handler.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a scripted timeout)


class _Handler(BaseHTTPRequestHandler):
    owner: TwilioFake
    server_version = "TwilioFake/1.0"

    def do_GET(self) -> None:
        self.owner.handle(self, "GET")

    def do_POST(self) -> None:
        self.owner.handle(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:  # request lines hold phone numbers: keep quiet
        pass


def _check_outcome(outcome: Outcome, kind: Kind) -> None:
    allowed = SMS_STATUSES if kind == "sms" else CALL_STATUSES
    if outcome.http_status is None and outcome.status is not None and outcome.status not in allowed:
        raise ValueError(f"{outcome.status!r} is not a final status for kind {kind!r}")


def _one(params: Mapping[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[-1] if values else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        raise _Refusal(400, 20001) from None


def _matches(params: Mapping[str, list[str]], key: str, value: str | None) -> bool:
    wanted = _one(params, key)
    return wanted is None or wanted == value


def _parse_when(text: str) -> datetime | date:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise _Refusal(400, 20001) from None


def _in_dates(params: Mapping[str, list[str]], name: str, value: datetime | None) -> bool:
    """Twilio's date filters: ``Name`` (that day), ``Name>`` (on or after), ``Name<`` (on or before); a
    date (YYYY-MM-DD, GMT) or a date and time."""
    checks = [(op, _one(params, name + op)) for op in ("", ">", "<")]
    checks = [(op, text) for op, text in checks if text]
    if not checks:
        return True
    if value is None:
        return False
    value = value.astimezone(UTC)
    for op, text in checks:
        when = _parse_when(text)
        if op == "":
            ok = value.date() == (when.date() if isinstance(when, datetime) else when)
        elif isinstance(when, datetime):
            ok = value >= when if op == ">" else value <= when
        else:
            ok = value.date() >= when if op == ">" else value.date() <= when
        if not ok:
            return False
    return True
