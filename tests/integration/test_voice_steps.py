"""The automated check-up call, step by step through the signed voice webhooks."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from checkups.channels.base import ChannelError
from checkups.engine.flags import queue
from checkups.models import Answer, Checkup, CheckupStatus, Enrolment, Flag, OutboundMessage

from .conftest import PUBLIC_BASE, TWILIO_TOKEN, World


def call(client: TestClient, path: str, query: dict[str, object], form: dict[str, str]) -> ElementTree.Element:
    url = f"{path}?{urlencode(query)}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + url, form)
    response = client.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ElementTree.fromstring(response.text)


def placed_call(world: World) -> tuple[Checkup, str, str]:
    """A voice-first participant whose check-up call has just been placed: (check-up, key, call SID)."""
    result = world.enrol(protocol="tcc-12m", channel="voice")
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.ticker().tick()
    with world.factory() as session:
        message = session.scalars(select(OutboundMessage).where(OutboundMessage.channel == "voice")).one()
        return result.first_checkup, message.key, message.provider_sid


def said(element: ElementTree.Element) -> str:
    return " ".join(s.text or "" for s in element.iter("Say"))


def test_a_person_answers_every_question_on_the_keypad(world: World, client: TestClient) -> None:
    checkup, key, sid = placed_call(world)
    twiml = call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    gathers = twiml.findall("Gather")
    assert gathers, "the first question is gathered"
    assert gathers[-1].get("actionOnEmptyResult") == "true"
    assert gathers[0].get("input") == "dtmf"
    assert "used at all" in said(twiml)
    answers = ["2", "3", "8", "1"]  # no use, urges 3, confidence 8, yes to a call
    for q, digits in enumerate(answers):
        twiml = call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": digits})
    assert twiml.find("Hangup") is not None
    assert twiml.find("Gather") is None
    with world.factory() as session:
        stored = {a.question_id: (a.value_int, a.value_text) for a in session.scalars(select(Answer))}
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value
    assert stored == {"any_use": (0, "no"), "urges": (3, None), "confidence": (8, None), "want_call": (1, "yes")}


def test_an_answering_machine_hears_only_the_discreet_message(world: World, client: TestClient) -> None:
    _checkup, key, sid = placed_call(world)
    twiml = call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "machine_end_beep"})
    assert twiml.find("Gather") is None
    assert twiml.find("Hangup") is not None
    text = said(twiml).lower()
    assert "used" not in text
    assert "urges" not in text
    assert "text message" in text


def test_a_url_from_another_call_gets_nothing(world: World, client: TestClient) -> None:
    _checkup, key, _sid = placed_call(world)
    twiml = call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": "CAsomeoneelse", "AnsweredBy": "human"})
    assert twiml.find("Gather") is None
    assert world.count(Answer) == 0


def test_a_replayed_answer_is_stored_once(world: World, client: TestClient) -> None:
    _checkup, key, sid = placed_call(world)
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    for _ in range(2):
        call(client, "/twilio/voice/answer", {"checkup": key, "q": 1}, {"CallSid": sid, "Digits": "4"})
    assert world.count(Answer) == 1


def test_an_out_of_range_key_is_kept_as_unparsed(world: World, client: TestClient) -> None:
    _checkup, key, sid = placed_call(world)
    call(client, "/twilio/voice/answer", {"checkup": key, "q": 1}, {"CallSid": sid, "Digits": "42"})
    with world.factory() as session:
        answer = session.scalars(select(Answer)).one()
    assert answer.parsed is False
    assert answer.value_int is None


@pytest.mark.parametrize("call_status", ["busy", "no-answer", "failed"])
def test_an_unanswered_call_brings_the_follow_up_forward(world: World, client: TestClient, call_status: str) -> None:
    checkup, _key, sid = placed_call(world)
    with world.factory() as session:
        before = session.get(Checkup, checkup.id)
    assert before.action in ("remind", "fallback")
    assert before.action_at > world.clock.now() + timedelta(hours=12)
    form = {"CallSid": sid, "CallStatus": call_status, "AccountSid": "AC" + "0" * 32}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/status", form)
    assert client.post("/twilio/status", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
    with world.factory() as session:
        after = session.get(Checkup, checkup.id)
    assert after.action_at == world.clock.now()
    world.ticker().tick()
    # tcc-12m calls again after a day: after an unanswered call it calls again now (the window is open).
    with world.factory() as session:
        kinds = session.scalars(
            select(OutboundMessage.kind).where(OutboundMessage.checkup_id == checkup.id).order_by(OutboundMessage.id)
        ).all()
    assert kinds == ["call", "reminder"]
    assert world.sends()[-1].sent_at == world.clock.now()


def _open_flag(world: World) -> Flag | None:
    with world.factory() as session:
        flags = queue(session)
    return flags[0] if flags else None


def test_use_keyed_in_on_a_call_raises_the_same_flag_as_a_text(world: World, client: TestClient) -> None:
    """A keypad answer goes through the protocol's risk rules as a text reply does: "1" (yes) to "have you
    used" is a high flag due in 24 hours, and the step-up starts."""
    checkup, key, sid = placed_call(world)
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    for q, digits in enumerate(["1", "3", "8", "2"]):  # used, urges 3, confidence 8, no call wanted
        call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": digits})
    flag = _open_flag(world)
    assert flag is not None
    assert flag.severity == "high"
    assert flag.due_by == world.clock.now() + timedelta(hours=24)
    assert len(flag.reasons) == 1
    assert flag.reasons[0]["reason"].startswith("Said they have used since the last check-in")
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value
        assert session.get(Enrolment, checkup.enrolment_id).step_up_until is not None


def test_a_call_hung_up_after_a_risky_answer_still_raises_the_flag(world: World, client: TestClient) -> None:
    """The rules run after each answer, not at the end of the call: strong urges with low confidence are
    flagged although the person hung up before the last question."""
    _checkup, key, sid = placed_call(world)
    for q, digits in enumerate(["2", "8", "3"]):  # no use, urges 8, confidence 3, then hangs up
        call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": digits})
    flag = _open_flag(world)
    assert flag is not None
    assert any("Strong urges with low confidence" in r["reason"] for r in flag.reasons)


def test_a_clean_call_raises_nothing(world: World, client: TestClient) -> None:
    _checkup, key, sid = placed_call(world)
    for q, digits in enumerate(["2", "2", "8", "2"]):
        call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": digits})
    assert _open_flag(world) is None


class _TimesOutAfterSending:
    """The provider places the call, but its answer never reaches us (a read timeout): the send's outcome
    is unknown until the next attempt looks the call up."""

    kind = "times-out"

    def __init__(self, inner: object) -> None:
        self.inner, self.armed = inner, True

    def send(self, message: object) -> object:
        receipt = self.inner.send(message)  # type: ignore[attr-defined]
        if self.armed:
            self.armed = False
            raise ChannelError("read timeout", code="timeout", outcome_unknown=True)
        return receipt

    def lookup(self, message: object, sent_after: object) -> object:
        return self.inner.lookup(message, sent_after)  # type: ignore[attr-defined]


def _call_with_lost_receipt(world: World) -> tuple[Checkup, str, str]:
    world.ctx.channels = {"sms": world.console, "voice": _TimesOutAfterSending(world.console)}
    result = world.enrol(protocol="tcc-12m", channel="voice")
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.ticker().tick()
    with world.factory() as session:
        message = session.scalars(select(OutboundMessage).where(OutboundMessage.channel == "voice")).one()
        assert message.provider_sid is None
        key = message.key
    return result.first_checkup, key, world.sends()[0].sid


def _calls(world: World) -> int:
    return sum(1 for row in world.sends() if ":send:" in row.key)


def test_a_call_answered_before_its_send_was_recorded_closes_the_check_up_and_is_not_placed_again(
    world: World, client: TestClient
) -> None:
    checkup, key, sid = _call_with_lost_receipt(world)
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    for q, digits in enumerate(["2", "3", "8", "2"]):
        call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": digits})
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value
    world.run(until=world.clock.now() + timedelta(hours=3))
    assert _calls(world) == 1


def test_a_call_hung_up_before_its_send_was_recorded_is_looked_up_not_placed_again(
    world: World, client: TestClient
) -> None:
    """The webhook keeps the call's SID but does not settle the message: the next attempt looks the call up
    with the provider and takes it in, instead of finding nothing to look up and calling again."""
    checkup, key, sid = _call_with_lost_receipt(world)
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    world.run(until=world.clock.now() + timedelta(hours=3))
    assert _calls(world) == 1
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.awaiting.value
        message = session.scalars(select(OutboundMessage).where(OutboundMessage.key == key)).one()
        assert (message.provider_sid, message.status) == (sid, "sent")


def test_a_silent_pick_up_is_not_an_answer(world: World, client: TestClient) -> None:
    """Nothing keyed in: the check-up stays open (its follow-ups still come) and, unanswered, closes as
    missed, so the missed-in-a-row rules see it."""
    checkup, key, sid = placed_call(world)
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    for q in range(4):
        call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": ""})
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.awaiting.value
    world.run(until=world.clock.now() + timedelta(days=8))
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.missed.value
        assert session.get(Enrolment, checkup.enrolment_id).missed_in_a_row >= 1


def test_the_text_after_unanswered_calls_asks_the_first_question_as_a_text(world: World, client: TestClient) -> None:
    """tcc-12m calls first and texts if the calls go unanswered: the text is the check-up's first question
    as written for a text message ("Reply Y or N"), not the call's script ("Press 1 for yes") read out in
    an SMS, and a reply to it goes on with the questions one by one."""
    checkup, _key, _sid = placed_call(world)
    world.run(until=world.clock.now() + timedelta(days=2, hours=2))
    texts = [row for row in world.sends() if row.key.startswith(f"checkup:{checkup.id}:fallback")]
    assert [row.kind for row in texts] == ["question"]
    body = world.ctx.vault.decrypt(texts[0].body_cipher)
    assert body == "Since we last checked in, have you used at all? Reply Y or N"
    form = {"MessageSid": "SM" + "7" * 32, "From": "+447700900123", "To": "+15005550006", "Body": "no"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
    assert client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
    with world.factory() as session:
        stored = {a.question_id: a.value_text for a in session.scalars(select(Answer))}
    assert stored == {"any_use": "no"}
    assert world.sends()[-1].kind == "question"  # the next question, by text


def test_a_call_hung_up_after_an_answer_gets_no_follow_up_and_counts_as_contact(
    world: World, client: TestClient
) -> None:
    """As in a text conversation: once they have answered, no call again and no text asking the first
    question again (which the next reply would then answer in the wrong place); it closes on time as
    answered, a contact, not a miss."""
    checkup, key, sid = placed_call(world)
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    call(client, "/twilio/voice/answer", {"checkup": key, "q": 0}, {"CallSid": sid, "Digits": "2"})  # then hangs up
    world.run(until=world.clock.now() + timedelta(days=5))
    follow_ups = [row.kind for row in world.sends() if row.key.startswith(f"checkup:{checkup.id}:")]
    assert follow_ups == ["call"]
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value
        assert session.get(Enrolment, checkup.enrolment_id).missed_in_a_row == 0


def test_keys_before_the_send_was_recorded_still_stop_the_follow_ups(world: World, client: TestClient) -> None:
    """The call's send is taken in only after the person keyed an answer and hung up (its record was lost
    and the next attempt looked the call up): the follow-ups then scheduled are dropped when due."""
    checkup, key, sid = _call_with_lost_receipt(world)
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    call(client, "/twilio/voice/answer", {"checkup": key, "q": 0}, {"CallSid": sid, "Digits": "2"})
    world.run(until=world.clock.now() + timedelta(days=5))
    assert [row.kind for row in world.sends() if row.key.startswith(f"checkup:{checkup.id}:")] == ["call"]
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value


def test_a_mis_keyed_answer_does_not_stop_the_follow_ups(world: World, client: TestClient) -> None:
    checkup, key, sid = placed_call(world)
    call(client, "/twilio/voice/answer", {"checkup": key, "q": 0}, {"CallSid": sid, "Digits": "7"})  # no such key
    world.run(until=world.clock.now() + timedelta(days=1, hours=2))
    assert [row.kind for row in world.sends() if row.key.startswith(f"checkup:{checkup.id}:")] == ["call", "reminder"]


def _answer_next_call(world: World, client: TestClient, keys: list[str]) -> Checkup:
    """Move to the next check-up's call and key in ``keys``: the check-up."""
    with world.factory() as session:
        nxt = session.scalars(select(Checkup).where(Checkup.status == CheckupStatus.pending.value)).one()
    world.clock.set(nxt.due_at + timedelta(minutes=1))
    world.ticker().tick()
    with world.factory() as session:
        message = session.scalars(
            select(OutboundMessage).where(OutboundMessage.checkup_id == nxt.id, OutboundMessage.channel == "voice")
        ).one()
        key, sid = message.key, message.provider_sid
    call(client, "/twilio/voice/start", {"checkup": key}, {"CallSid": sid, "AnsweredBy": "human"})
    for q, digits in enumerate(keys):
        call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": digits})
    return nxt


def test_two_clear_calls_end_the_step_up_a_keyed_use_began(world: World, client: TestClient) -> None:
    checkup, key, sid = placed_call(world)
    for q, digits in enumerate(["1", "3", "8", "2"]):  # used: flagged, stepped up
        call(client, "/twilio/voice/answer", {"checkup": key, "q": q}, {"CallSid": sid, "Digits": digits})
    with world.factory() as session:
        assert session.get(Enrolment, checkup.enrolment_id).step_up_until is not None
    _answer_next_call(world, client, ["2", "2", "8", "2"])
    with world.factory() as session:
        assert session.get(Enrolment, checkup.enrolment_id).step_up_until is not None  # one clear is not two
    _answer_next_call(world, client, ["2", "2", "8", "2"])
    with world.factory() as session:
        assert session.get(Enrolment, checkup.enrolment_id).step_up_until is None
