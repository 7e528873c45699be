"""Twilio SMS and voice channels through the real ``twilio`` client and the fake Twilio on loopback."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkups import logging as checkups_logging
from checkups.channels import CHANNELS, ChannelError, ConsoleChannel, Outgoing, Receipt, TwilioSMS, TwilioVoice
from checkups.channels.encoding import GSM_BASIC, gsm_friendly, measure, segments
from checkups.channels.ratelimit import LocalRateLimiter, RateLimited, wait_turn
from checkups.channels.twilio_api import Severity, TwilioAccount, severity
from checkups.channels.twilio_sms import MAX_VALIDITY, MIN_VALIDITY, validity_seconds
from checkups.channels.voice_twiml import goodbye_twiml, machine_twiml, question_twiml
from checkups.clock import SettableClock
from checkups.runtime import twilio_channels
from checkups.settings import SettingsError, load_settings
from checkups.testing import Outcome, TwilioFake
from tests.webhook_receiver import WebhookReceiver

ACCOUNT = "AC" + "0" * 32
TOKEN = "test-token-7f3a9c"
SERVICE = "MG" + "0" * 32
FROM = "+15005550006"  # Twilio's magic "valid sender" test number
TO = "+447700900123"  # reserved for drama
TIMEOUT = 0.5  # the client's request timeout in these tests


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def fake(clock: SettableClock) -> Iterator[TwilioFake]:
    with TwilioFake(ACCOUNT, TOKEN, now=clock.now, default_hold=TIMEOUT + 1) as fake:
        yield fake


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def client_for(fake: TwilioFake, token: str = TOKEN):
    return TwilioAccount(ACCOUNT, token, api_base=fake.base_url, timeout=TIMEOUT).client()


def make_sms(fake, receiver, clock, **overrides) -> TwilioSMS:
    client = overrides.pop("client", None) or client_for(fake)
    options = {
        "public_base_url": receiver.base_url,
        "now": clock.now,
        "limiter": LocalRateLimiter(),
        "from_number": FROM,
        "rate_per_second": 1000,
        "request_timeout": TIMEOUT,
    }
    options.update(overrides)
    return TwilioSMS(client, **options)


def make_voice(fake, receiver, clock, **overrides) -> TwilioVoice:
    options = {
        "public_base_url": receiver.base_url,
        "now": clock.now,
        "limiter": LocalRateLimiter(),
        "from_number": FROM,
        "rate_per_second": 1000,
    }
    options.update(overrides)
    return TwilioVoice(client_for(fake), **options)


def outgoing(clock: SettableClock, to: str = TO, body: str = "Hi, it's your check-in. Reply 1-5.", **kw) -> Outgoing:
    fields = {
        "key": "checkup:7:send:0:1",
        "participant_id": 7,
        "to": to,
        "body": body,
        "kind": "question",
        "channel": "sms",
        "valid_until": clock.now() + timedelta(hours=3),
        "timezone": "Europe/London",
    }
    fields.update(kw)
    return Outgoing(**fields)  # type: ignore[arg-type]


# --- sending and status callbacks -----------------------------------------------------------------------


def test_sms_goes_out_and_its_signed_status_callbacks_arrive(fake, receiver, clock) -> None:
    receipt = make_sms(fake, receiver, clock).send(outgoing(clock))
    fake.settle()

    [message] = fake.messages
    assert receipt == Receipt(sid=message.sid, segments=1)
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert message.from_ == FROM
    assert message.status_callback == receiver.base_url + "/twilio/status"
    assert message.status == "delivered"
    assert message.params["SmartEncoded"] == "false"  # Twilio keeps the text as sent: lookups compare it
    callbacks = receiver.at("/twilio/status")
    assert [c.params["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
    for callback in callbacks:
        assert callback.params["MessageSid"] == message.sid
        assert callback.params["AccountSid"] == ACCOUNT
        assert callback.signed_by(TOKEN)
        assert not callback.signed_by("another-token")


def test_sms_from_a_messaging_service_names_the_service_not_a_number(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock, from_number=None, messaging_service_sid=SERVICE)
    sms.send(outgoing(clock))
    fake.settle()
    [message] = fake.messages
    assert message.messaging_service_sid == SERVICE
    assert "From" not in message.params
    statuses = [c.params["MessageStatus"] for c in receiver.at("/twilio/status")]
    assert statuses == ["accepted", "queued", "sent", "delivered"]


def test_undelivered_callback_carries_the_error_code(fake, receiver, clock) -> None:
    fake.script(TO, Outcome.undelivered(30003))
    make_sms(fake, receiver, clock).send(outgoing(clock))  # accepted: delivery fails later
    fake.settle()
    last = receiver.at("/twilio/status")[-1]
    assert last.params["MessageStatus"] == "undelivered"
    assert last.params["ErrorCode"] == "30003"
    assert last.signed_by(TOKEN)
    assert fake.messages[0].error_code == 30003


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("21610", Severity.opted_out),
        (21211, Severity.unusable_number),
        (21614, Severity.unusable_number),
        (21635, Severity.unusable_number),
        ("30006", Severity.unusable_number),
        ("30003", Severity.transient),
        ("30008", Severity.transient),
        ("30036", Severity.transient),
        ("20429", Severity.transient),
    ],
)
def test_status_callback_error_codes_are_classified_like_create_errors(code, expected) -> None:
    assert severity(code) is expected


# --- errors at create -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "permanent", "code"),
    [
        (Outcome.rejected(21610), True, "21610"),
        (Outcome.rejected(21211), True, "21211"),
        (Outcome.rejected(21614), True, "21614"),
        (Outcome.rejected(21635), True, "21635"),
        (Outcome.rejected(30006), True, "30006"),
        (Outcome.rejected(30003), False, "30003"),
        (Outcome.rejected(30008), False, "30008"),
        (Outcome.rejected(21606), True, "21606"),  # a sender that is not ours: no retry will help
        (Outcome.rate_limited(), False, "20429"),
        (Outcome.server_error(500), False, "20500"),
        (Outcome.server_error(503), False, "20503"),
    ],
)
def test_create_errors_map_to_permanent_or_transient_with_twilio_code(
    fake, receiver, clock, outcome, permanent, code
) -> None:
    fake.script(TO, outcome)
    with pytest.raises(ChannelError) as caught:
        make_sms(fake, receiver, clock).send(outgoing(clock))
    error = caught.value
    assert (error.permanent, error.code, error.outcome_unknown) == (permanent, code, False)
    assert TO not in str(error)  # Twilio's own message quotes the number; ours never does
    assert fake.messages == []


def test_rate_limited_by_twilio_then_the_retry_goes_out_once(fake, receiver, clock) -> None:
    fake.script(TO, Outcome.rate_limited(), Outcome.delivered())
    sms = make_sms(fake, receiver, clock)
    with pytest.raises(ChannelError) as caught:
        sms.send(outgoing(clock))
    assert caught.value.code == "20429"
    assert not caught.value.permanent
    receipt = sms.send(outgoing(clock, key="checkup:7:send:0:2"))
    assert [m.sid for m in fake.messages] == [receipt.sid]
    assert [r.status for r in fake.requests] == [429, 201]


def test_wrong_auth_token_is_permanent_says_so_and_hides_the_token(fake, receiver, clock) -> None:
    secret = "wrong-token-5b1e0d"
    sms = make_sms(fake, receiver, clock, client=client_for(fake, token=secret))
    with pytest.raises(ChannelError) as caught:
        sms.send(outgoing(clock))
    error = caught.value
    assert error.permanent
    assert error.code == "20003"
    assert "CHECKUPS_TWILIO_AUTH_TOKEN" in str(error)
    assert secret not in str(error)
    assert TOKEN not in str(error)
    assert secret not in repr(TwilioAccount(ACCOUNT, secret))
    assert fake.requests[-1].status == 401
    assert fake.messages == []


def test_refused_connection_is_transient_and_certainly_not_sent(receiver, clock) -> None:
    with TwilioFake(ACCOUNT, TOKEN) as gone:
        pass  # stopped: its port now refuses connections
    sms = make_sms(gone, receiver, clock)
    with pytest.raises(ChannelError) as caught:
        sms.send(outgoing(clock))
    assert (caught.value.permanent, caught.value.outcome_unknown, caught.value.code) == (False, False, "connect")


# --- unknown outcomes and reconciliation ----------------------------------------------------------------


def test_timeout_leaves_the_outcome_unknown_and_lookup_finds_the_message(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock)
    message = outgoing(clock)
    attempt_saved_at = clock.now()
    fake.script(TO, Outcome.timeout())
    with pytest.raises(ChannelError) as caught:
        sms.send(message)
    assert caught.value.outcome_unknown
    assert caught.value.code == "timeout"
    assert len(fake.messages) == 1  # Twilio got it although we never heard back

    fake.settle()
    receipt = sms.lookup(message, attempt_saved_at)
    assert receipt is not None
    assert receipt.sid == fake.messages[0].sid
    assert len(fake.messages) == 1  # reconciled, not resent


def test_lookup_finds_a_message_still_queued_without_a_date_sent(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock)
    message = outgoing(clock)
    fake.script(TO, Outcome.timeout(then=Outcome.queued()))
    with pytest.raises(ChannelError):
        sms.send(message)
    fake.settle()
    assert fake.messages[0].date_sent is None
    receipt = sms.lookup(message, clock.now())
    assert receipt is not None
    assert receipt.sid == fake.messages[0].sid


def test_connection_dropped_after_the_request_is_unknown_and_reconciled(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock)
    message = outgoing(clock)
    fake.script(TO, Outcome.dropped())
    with pytest.raises(ChannelError) as caught:
        sms.send(message)
    assert caught.value.outcome_unknown
    assert caught.value.code == "connection-lost"
    fake.settle()
    assert sms.lookup(message, clock.now()) == Receipt(sid=fake.messages[0].sid, segments=1)


def test_lookup_ignores_other_texts_older_messages_and_inbound_ones(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock)
    message = outgoing(clock)
    sms.send(message)  # the same text, a week ago
    clock.advance(timedelta(days=7))
    sms.send(outgoing(clock, body="Another text"))
    fake.simulate_reply(receiver.base_url + "/twilio/sms", from_=TO, to=FROM, body=message.body)
    fake.settle()

    assert sms.lookup(message, clock.now()) is None
    assert sms.lookup(outgoing(clock, to="+447700900999"), clock.now() - timedelta(days=30)) is None
    found = sms.lookup(message, clock.now() - timedelta(days=8))
    assert found is not None
    assert found.sid == fake.messages[0].sid


def test_lookup_takes_the_most_recent_identical_text(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock)
    message = outgoing(clock)
    sms.send(message)
    clock.advance(timedelta(minutes=30))
    second = sms.send(message)
    assert sms.lookup(message, clock.now() - timedelta(hours=1)) == second


def test_lookup_of_a_smart_quoted_text_matches_what_was_sent(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock)
    message = outgoing(clock, body="How\u2019s it going\u2026 reply \u201cok\u201d")
    receipt = sms.send(message)
    assert sms.lookup(message, clock.now()) == receipt


def test_fake_list_pages_through_the_real_client(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock)
    for i in range(5):
        sms.send(outgoing(clock, body=f"text {i}"))
    fake.settle()  # pages of a list that changes under it may overlap (at Twilio too)
    client = client_for(fake)
    listed = client.messages.list(to=TO, page_size=2)
    assert sorted(m.body for m in listed) == [f"text {i}" for i in range(5)]
    assert client.messages(fake.messages[0].sid).fetch().body == "text 0"


# --- the send window ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left",
    [
        timedelta(seconds=MIN_VALIDITY + TIMEOUT + 1),
        timedelta(minutes=7, seconds=13),
        timedelta(hours=3),
        timedelta(hours=10),
        timedelta(hours=10, seconds=1),
        timedelta(days=2),
    ],
)
def test_validity_period_never_reaches_past_the_window_end(fake, receiver, clock, left) -> None:
    message = outgoing(clock, valid_until=clock.now() + left)
    make_sms(fake, receiver, clock).send(message)
    [sent] = fake.messages
    assert sent.validity_period is not None
    assert MIN_VALIDITY <= sent.validity_period <= MAX_VALIDITY
    assert sent.date_created + timedelta(seconds=sent.validity_period) <= message.valid_until


@given(
    left=st.floats(min_value=-3600, max_value=200_000, allow_nan=False),
    margin=st.floats(min_value=0, max_value=60, allow_nan=False),
)
def test_validity_seconds_is_whole_seconds_inside_the_window(left: float, margin: float) -> None:
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    end = now + timedelta(seconds=left)
    validity = validity_seconds(now, end, margin)
    assert validity is not None
    assert validity <= MAX_VALIDITY
    assert now + timedelta(seconds=validity + margin) <= end


def test_too_little_left_of_the_window_sends_nothing_and_defers(fake, receiver, clock) -> None:
    message = outgoing(clock, valid_until=clock.now() + timedelta(seconds=MIN_VALIDITY - 1))
    with pytest.raises(ChannelError) as caught:
        make_sms(fake, receiver, clock).send(message)
    assert (caught.value.code, caught.value.permanent, caught.value.outcome_unknown) == ("window-closing", False, False)
    assert fake.requests == []


def test_fake_fails_a_message_queued_past_its_validity_with_30036(fake, receiver, clock) -> None:
    fake.script(TO, Outcome.delivered(queue_seconds=4 * 3600))
    make_sms(fake, receiver, clock).send(outgoing(clock, valid_until=clock.now() + timedelta(hours=2)))
    fake.settle()
    assert fake.messages[0].status == "failed"
    assert receiver.at("/twilio/status")[-1].params["ErrorCode"] == "30036"


# --- encoding and segments ------------------------------------------------------------------------------


def test_gsm_alphabet_is_the_full_basic_table() -> None:
    assert len(GSM_BASIC) == 127  # 128 codes less the escape
    for c in "@£$¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà_":
        assert c in GSM_BASIC
    assert "\u2126" not in GSM_BASIC  # OHM SIGN, not the Greek capital omega


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("é£¥ΔÑ" * 32, "GSM-7", 1),  # accented and Greek letters of the basic table: one septet each
        ("€" * 80, "GSM-7", 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("[x]" * 32, "GSM-7", 1),  # 160 septets
        ("{x}" * 54, "GSM-7", 2),  # 216 septets
        ("a" * 152 + "^", "GSM-7", 1),  # 154 septets: fits one part
        ("a" * 159 + "^", "GSM-7", 2),  # 161 septets
        ("a" * 70, "GSM-7", 1),
        ("ç" + "a" * 69, "UCS-2", 1),  # lower-case c cedilla is not GSM
        ("ç" + "a" * 70, "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 3),  # the emoji's surrogate pair is not split across parts
    ],
)
def test_segments_follow_gsm_and_ucs2_rules(text: str, encoding: str, parts: int) -> None:
    measured = measure(text)
    assert (measured.encoding, measured.segments) == (encoding, parts)


def test_smart_quotes_and_odd_spaces_do_not_force_ucs2() -> None:
    text = "It\u2019s \u201cyour\u201d check\u2010in\u00a0\u2013 reply 1\u20265\u200b"
    assert measure(text).encoding == "UCS-2"
    friendly = gsm_friendly(text)
    assert friendly == 'It\'s "your" check-in - reply 1...5'
    assert measure(friendly).encoding == "GSM-7"
    assert gsm_friendly("Ça va? 😀") == "Ça va? 😀"  # real non-GSM text is left alone


def test_sms_is_sent_gsm_friendly_and_the_receipt_counts_its_parts(fake, receiver, clock) -> None:
    body = "Hello \u2018friend\u2019, " + "x" * 150  # 166 characters: UCS-2 (3 parts) with curly quotes
    assert segments(body) == 3
    receipt = make_sms(fake, receiver, clock).send(outgoing(clock, body=body))
    [sent] = fake.messages
    assert sent.body == "Hello 'friend', " + "x" * 150
    assert receipt.segments == 2 == sent.num_segments


def test_console_counts_segments_the_same_way() -> None:
    from checkups.channels import console

    assert console.segments("€" * 81) == 2


# --- voice ----------------------------------------------------------------------------------------------


def test_call_is_placed_with_machine_detection_and_its_status_flows(fake, receiver, clock) -> None:
    receiver.responses["/twilio/voice/start"] = question_twiml("Press 1 for yes.", "/twilio/voice/answer", 1, "Again:")
    message = outgoing(clock, channel="voice", kind="call", key="checkup:9:fallback:0:1")
    receipt = make_voice(fake, receiver, clock).send(message)
    fake.settle()

    [call] = fake.calls
    assert receipt == Receipt(sid=call.sid, segments=1)
    assert call.sid.startswith("CA")
    assert (call.to, call.from_) == (TO, FROM)
    assert call.machine_detection == "DetectMessageEnd"
    assert call.time_limit == 600
    assert call.status_callback == receiver.base_url + "/twilio/status"
    assert call.status_callback_events == ["initiated", "ringing", "answered", "completed"]
    url = urlsplit(call.url)
    assert url.path == "/twilio/voice/start"
    assert parse_qs(url.query) == {"checkup": ["checkup:9:fallback:0:1"]}

    [start] = receiver.at("/twilio/voice/start")
    assert start.params["AnsweredBy"] == "human"
    assert start.params["CallSid"] == call.sid
    assert start.signed_by(TOKEN)  # signed over the full URL, query included
    assert call.twiml == [receiver.responses["/twilio/voice/start"]]
    statuses = [c.params["CallStatus"] for c in receiver.at("/twilio/status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert all(c.signed_by(TOKEN) for c in receiver.at("/twilio/status"))


@pytest.mark.parametrize(
    ("outcome", "final"),
    [(Outcome.busy(), "busy"), (Outcome.no_answer(), "no-answer"), (Outcome.call_failed(), "failed")],
)
def test_unanswered_calls_report_their_final_status(fake, receiver, clock, outcome, final) -> None:
    fake.script(TO, outcome, kind="call")
    make_voice(fake, receiver, clock).send(outgoing(clock, channel="voice", kind="call"))
    fake.settle()
    assert receiver.at("/twilio/voice/start") == []
    assert receiver.at("/twilio/status")[-1].params["CallStatus"] == final


def test_answering_machine_is_reported_to_the_start_url(fake, receiver, clock) -> None:
    fake.script(TO, Outcome.machine(), kind="call")
    make_voice(fake, receiver, clock).send(outgoing(clock, channel="voice", kind="call"))
    fake.settle()
    [start] = receiver.at("/twilio/voice/start")
    assert start.params["AnsweredBy"] == "machine_end_beep"


def test_call_errors_are_mapped_and_a_timed_out_call_is_reconciled(fake, receiver, clock) -> None:
    voice = make_voice(fake, receiver, clock)
    message = outgoing(clock, channel="voice", kind="call")
    fake.script(TO, Outcome.rejected(21211), kind="call")
    with pytest.raises(ChannelError) as caught:
        voice.send(message)
    assert (caught.value.permanent, caught.value.code) == (True, "21211")
    assert voice.lookup(message, clock.now()) is None

    fake.script(TO, Outcome.timeout(), kind="call")
    with pytest.raises(ChannelError) as caught:
        voice.send(message)
    assert caught.value.outcome_unknown
    fake.settle()
    [call] = fake.calls
    assert voice.lookup(message, clock.now()) == Receipt(sid=call.sid, segments=1)


def test_calls_need_a_number_of_ours(fake, receiver, clock) -> None:
    voice = make_voice(fake, receiver, clock, from_number=None)
    with pytest.raises(ChannelError) as caught:
        voice.send(outgoing(clock, channel="voice"))
    assert caught.value.permanent
    assert "CHECKUPS_TWILIO_FROM" in str(caught.value)
    assert fake.requests == []


def test_no_call_when_the_window_is_about_to_close(fake, receiver, clock) -> None:
    voice = make_voice(fake, receiver, clock)
    with pytest.raises(ChannelError) as caught:
        voice.send(outgoing(clock, channel="voice", valid_until=clock.now() + timedelta(minutes=2)))
    assert (caught.value.code, caught.value.permanent) == ("window-closing", False)
    assert fake.requests == []


# --- TwiML ----------------------------------------------------------------------------------------------


def parse(twiml: str) -> ET.Element:
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return root


def test_question_twiml_gathers_keys_and_asks_again_on_silence() -> None:
    root = parse(
        question_twiml(
            "Have you had a drink this week? Press 1 for yes, 2 for no.",
            "https://example.org/twilio/voice/answer?checkup=a&q=drink",
            1,
            "Sorry, I didn't catch that.",
            language="en-GB",
        )
    )
    first, second = root.findall("Gather")
    assert len(root) == 2
    for gather in (first, second):
        assert gather.get("input") == "dtmf"
        assert gather.get("action") == "https://example.org/twilio/voice/answer?checkup=a&q=drink"
        assert gather.get("method") == "POST"
        assert gather.get("finishOnKey") == "#"
        assert gather.get("numDigits") == "1"
        assert gather.get("timeout") == "6"
    # Silence on the first falls through to the repeat; the second always calls the action.
    assert first.get("actionOnEmptyResult") is None
    assert second.get("actionOnEmptyResult") == "true"
    assert [s.text for s in first.findall("Say")] == ["Have you had a drink this week? Press 1 for yes, 2 for no."]
    assert [s.text for s in second.findall("Say")] == [
        "Sorry, I didn't catch that.",
        "Have you had a drink this week? Press 1 for yes, 2 for no.",
    ]
    assert first.find("Say").get("language") == "en-GB"


def test_question_twiml_for_a_number_of_any_length_ends_on_hash() -> None:
    root = parse(question_twiml("On a scale of 0 to 10, then hash.", "/a", None, None, timeout=8))
    [gather] = root.findall("Gather")
    assert gather.get("numDigits") is None
    assert gather.get("finishOnKey") == "#"
    assert gather.get("timeout") == "8"
    assert gather.get("actionOnEmptyResult") == "true"


def test_machine_twiml_says_only_the_discreet_message_and_hangs_up() -> None:
    root = parse(machine_twiml("Hello, this is a call for you. Please expect a text message."))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert root.find("Say").text == "Hello, this is a call for you. Please expect a text message."
    assert root.find(".//Gather") is None


def test_goodbye_twiml_says_goodbye_and_hangs_up() -> None:
    root = parse(goodbye_twiml("Thank you. Goodbye."))
    assert [(child.tag, child.text) for child in root] == [("Say", "Thank you. Goodbye."), ("Hangup", None)]


# --- inbound, registry, settings, rate limit, logs ------------------------------------------------------


def test_simulated_reply_is_posted_signed_and_replayable(fake, receiver) -> None:
    url = receiver.base_url + "/twilio/sms"
    first = fake.simulate_reply(url, from_=TO, to=FROM, body="3")
    fake.simulate_reply(url, from_=TO, to=FROM, body="3", message_sid=first.params["MessageSid"])
    one, again = receiver.at("/twilio/sms")
    assert one.params == again.params
    assert one.params["From"] == TO
    assert one.params["Body"] == "3"
    assert one.params["AccountSid"] == ACCOUNT
    assert one.signed_by(TOKEN)
    assert len(fake.inbound) == 1
    forged = fake.post_webhook(url, one.params, signature="bm90IGEgc2lnbmF0dXJl")
    missing = fake.post_webhook(url, one.params, signature=None)
    assert not receiver.at("/twilio/sms")[2].signed_by(TOKEN)
    assert forged.signature is not None
    assert receiver.at("/twilio/sms")[3].signature is None
    assert missing.signature is None


def test_registry_has_every_channel_by_kind() -> None:
    assert {"console": ConsoleChannel, "twilio_sms": TwilioSMS, "twilio_voice": TwilioVoice} == CHANNELS


def test_runtime_builds_twilio_channels_from_settings(fake, receiver, clock, tmp_path) -> None:
    settings = load_settings(
        channel="twilio",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_from=FROM,
        twilio_api_base=fake.base_url,
        public_base_url=receiver.base_url,
        twilio_rate_per_second=50,
    )
    channels = twilio_channels(settings, clock)
    assert isinstance(channels["sms"], TwilioSMS)
    assert isinstance(channels["voice"], TwilioVoice)
    receipt = channels["sms"].send(outgoing(clock))
    fake.settle()
    assert fake.messages[0].sid == receipt.sid
    assert receiver.at("/twilio/status")[-1].params["MessageStatus"] == "delivered"


def test_send_lease_must_outlast_a_twilio_request() -> None:
    with pytest.raises(SettingsError, match="CHECKUPS_SEND_LEASE_SECONDS must be longer"):
        load_settings(
            channel="twilio",
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
            twilio_from=FROM,
            public_base_url="https://checkups.example.org",
            twilio_timeout_seconds=30,
            send_lease_seconds=45,
        )


def test_local_rate_limiter_spaces_turns_and_refuses_past_the_bound() -> None:
    now = [100.0]
    limiter = LocalRateLimiter(clock=lambda: now[0])
    slept: list[float] = []
    waits = [wait_turn(limiter, "sms:a", 2, max_wait=1.0, sleep=slept.append) for _ in range(3)]
    assert waits == [0.0, 0.5, 1.0]
    assert slept == [0.5, 1.0]
    with pytest.raises(RateLimited):
        wait_turn(limiter, "sms:a", 2, max_wait=1.0, sleep=slept.append)
    assert wait_turn(limiter, "sms:b", 2, max_wait=1.0) == 0.0  # another sender has its own turns
    now[0] += 10
    assert wait_turn(limiter, "sms:a", 2, max_wait=1.0) == 0.0


def test_send_over_the_local_rate_limit_is_transient_and_not_sent(fake, receiver, clock) -> None:
    sms = make_sms(fake, receiver, clock, rate_per_second=0.01, max_wait=0.1)
    sms.send(outgoing(clock))
    with pytest.raises(ChannelError) as caught:
        sms.send(outgoing(clock, key="checkup:8:send:0:1", participant_id=8))
    assert (caught.value.code, caught.value.permanent, caught.value.outcome_unknown) == ("rate-limited", False, False)
    assert len(fake.messages) == 1


def test_logs_hold_ids_and_sids_but_no_numbers_or_texts(fake, receiver, clock) -> None:
    stream = io.StringIO()
    checkups_logging.configure(log_format="json", level="DEBUG", stream=stream)
    try:
        sms = make_sms(fake, receiver, clock)
        body = "Private words about recovery"
        receipt = sms.send(outgoing(clock, body=body))
        fake.script(TO, Outcome.rejected(21211))
        with pytest.raises(ChannelError):
            sms.send(outgoing(clock, body=body))
        sms.lookup(outgoing(clock, body=body), clock.now())
        make_voice(fake, receiver, clock).send(outgoing(clock, channel="voice"))
    finally:
        checkups_logging.configure(log_format="json", level="WARNING", stream=io.StringIO())
    raw = stream.getvalue()
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert any(e.get("sid") == receipt.sid and e.get("participant_id") == 7 for e in events)
    for secret in (TO, TO[1:], "7700900123", FROM, body, TOKEN):
        assert secret not in raw
