"""The steps of an automated check-up call: which question to ask next, what a keypad answer means.

A call is identified by the key of its outbound message (``checkup:<id>:send:...``), which the call's
URLs carry; the call's SID must match the one the provider gave when the call was placed.

Each keyed answer goes through the protocol's risk rules at once, as a text reply does (a hang-up after a
risky answer is flagged all the same). The check-up closes as answered at the end of the call only if
something was keyed in: a silent pick-up is no answer, and the missed-in-a-row rules must still see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..models import OPEN_CHECKUP, Checkup, OutboundMessage
from ..protocols.schema import AnswerType, Protocol, Question
from . import conversation
from .answers import close_answered, has_answers, parse_keypad, questions_of, record_answer
from .compose import question_text
from .context import Context

MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


@dataclass(frozen=True)
class Step:
    kind: str  # question, machine, goodbye
    text: str
    language: str | None = None
    index: int = 0
    num_digits: int | None = None
    repeat: str | None = None


def _call(ctx: Context, session: Session, key: str, call_sid: str) -> tuple[Checkup, Protocol, str] | None:
    # The message, then the check-up: the order in which the send's own record (dispatch._record) and the
    # status callbacks lock them, so a call picked up while its send is being recorded waits, no deadlock.
    message = session.scalars(select(OutboundMessage).where(OutboundMessage.key == key).with_for_update()).first()
    if message is None or message.checkup_id is None or message.channel != "voice":
        return None
    if message.provider_sid and call_sid and message.provider_sid != call_sid:
        return None  # a URL from another call
    checkup = session.get(Checkup, message.checkup_id, with_for_update=True)
    if checkup is None:
        return None
    if not message.provider_sid and call_sid:
        # The call is live, but its send was not recorded (the provider's answer was lost). The SID is kept;
        # the status is not settled here: the check-up's next attempt looks the call up with the provider and
        # takes it in as sent. Marked sent here, the attempt would find nothing to look up and call again.
        message.provider_sid = call_sid
    protocol = ctx.protocols.by_version_id(session, checkup.enrolment.protocol_version_id)
    return checkup, protocol, checkup.enrolment.participant.language


def _question_step(protocol: Protocol, questions: list[Question], index: int, language: str) -> Step:
    question = questions[index]
    digits = 1 if question.type in (AnswerType.yes_no, AnswerType.choice) else None
    repeat = protocol.text(protocol.messages.clarify, language)
    return Step("question", question_text(question, language, protocol, voice=True), language, index, digits, repeat)


def _goodbye(protocol: Protocol, language: str) -> Step:
    return Step("goodbye", protocol.text(protocol.messages.closing, language), language)


def start(ctx: Context, factory: sessionmaker[Session], key: str, call_sid: str, answered_by: str) -> Step:
    with factory() as session, session.begin():
        found = _call(ctx, session, key, call_sid)
        if found is None:
            return Step("goodbye", "Goodbye.")
        checkup, protocol, language = found
        if answered_by in MACHINE:
            # Never the questions on a machine: anyone in the household may play it back.
            return Step("machine", protocol.text(protocol.messages.voicemail, language), language)
        questions = [q for q in questions_of(protocol, checkup) if q.type is not AnswerType.text]
        if not questions:
            return _goodbye(protocol, language)
        return _question_step(protocol, questions, 0, language)


def answer(ctx: Context, factory: sessionmaker[Session], key: str, call_sid: str, index: int, digits: str) -> Step:
    with factory() as session, session.begin():
        found = _call(ctx, session, key, call_sid)
        if found is None:
            return Step("goodbye", "Goodbye.")
        checkup, protocol, language = found
        questions = [q for q in questions_of(protocol, checkup) if q.type is not AnswerType.text]
        if not 0 <= index < len(questions):
            return _goodbye(protocol, language)
        now = ctx.now()
        question = questions[index]
        enrolment = checkup.enrolment
        # The risk rules run after each answer, as they do for a text reply: a person who hangs up after
        # keying in "used" is flagged all the same.
        # No reminder or fallback follows an understood key (a hang-up after it included): the dispatcher
        # drops a follow-up of a check-up with an understood answer when it comes due.
        if digits and record_answer(session, checkup, question, parse_keypad(question, digits), now) is not None:
            conversation.evaluate(ctx, session, enrolment, protocol, checkup, now)
        if index + 1 < len(questions):
            return _question_step(protocol, questions, index + 1, language)
        # Pending too: a call can be answered before its send was recorded (or when that record was lost).
        if checkup.status in OPEN_CHECKUP and has_answers(session, checkup.id):
            conversation.maybe_end_step_up(session, enrolment, protocol, checkup, now)
            close_answered(ctx, session, checkup, now)
        return _goodbye(protocol, language)
