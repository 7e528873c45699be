"""Answers to a check-up's questions, and closing a check-up as answered.

Keypad answers from a voice call are parsed here; free-text SMS replies get the full parser with its
clarification rules in the replies issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..models import Answer, Checkup, CheckupStatus, Enrolment
from ..protocols.schema import AnswerType, Protocol, Question
from .context import Context
from .planner import plan_next


@dataclass(frozen=True)
class Parsed:
    ok: bool
    value_int: int | None = None
    value_text: str | None = None


def parse_keypad(question: Question, digits: str) -> Parsed:
    """A keypad answer: 1 yes / 2 no, a number on the scale, or the number of a choice."""
    digits = (digits or "").strip().rstrip("#")
    if not digits.isdigit():
        return Parsed(False)
    number = int(digits)
    if question.type is AnswerType.yes_no:
        return {1: Parsed(True, 1, "yes"), 2: Parsed(True, 0, "no")}.get(number, Parsed(False))
    if question.type is AnswerType.scale:
        assert question.min is not None
        assert question.max is not None
        return Parsed(True, number) if question.min <= number <= question.max else Parsed(False)
    if question.type is AnswerType.choice:
        choices = question.choices or []
        return Parsed(True, number, choices[number - 1].id) if 1 <= number <= len(choices) else Parsed(False)
    return Parsed(False)  # free text cannot be keyed in


def record_answer(
    session: Session,
    checkup: Checkup,
    question: Question,
    parsed: Parsed,
    now: datetime,
    inbound_id: int | None = None,
) -> int | None:
    """Store one answer: the new answer's id, or None if the question was answered already (a replayed
    webhook changes nothing)."""
    row = session.execute(
        _RECORD[session.get_bind().dialect.name],
        {
            "checkup_id": checkup.id,
            "participant_id": checkup.enrolment.participant_id,
            "question_id": question.id,
            "value_int": parsed.value_int,
            "value_text": parsed.value_text,
            "parsed": parsed.ok,
            "inbound_id": inbound_id,
            "answered_at": now,
        },
    ).first()
    return None if row is None else row[0]


# Built once per dialect: building an INSERT ... ON CONFLICT costs more than running it on SQLite.
# On the table, not the ORM class: an ORM insert goes through its bulk-insert machinery, and answers are only
# ever written by this statement (never ORM objects), so nothing needs flushing before it.
_RECORD = {
    name: insert(Answer.__table__)
    .on_conflict_do_nothing(index_elements=["checkup_id", "question_id"])
    .returning(Answer.__table__.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def questions_of(protocol: Protocol, checkup: Checkup) -> list[Question]:
    return questions_for_phase(protocol, checkup.phase)


def questions_for_phase(protocol: Protocol, phase: str) -> list[Question]:
    """The questions of a phase; a step-up check-up asks the step-up's set."""
    if phase in {p.name for p in protocol.schedule.phases}:
        return protocol.questions_for(phase)
    if protocol.step_up is not None and protocol.step_up.questions in protocol.question_sets:
        return [protocol.question(q) for q in protocol.question_sets[protocol.step_up.questions]]
    return [protocol.question(q) for q in next(iter(protocol.question_sets.values()))]


_CLOSING_COLUMNS = tuple(Checkup.closing(CheckupStatus.answered, datetime.min))
# Built once, with bound parameters: building a statement costs more than running it on SQLite.
_CLOSE_ANSWERED = (
    update(Checkup)
    .where(
        Checkup.id == bindparam("checkup_id"),
        Checkup.status.in_((CheckupStatus.awaiting.value, CheckupStatus.pending.value)),
    )
    .values({column: bindparam(f"new_{column}") for column in _CLOSING_COLUMNS})
    # The check-up object in the session is brought up to date below: the ORM's "evaluate" cannot read
    # values given as bound parameters.
    .execution_options(synchronize_session=False)
)
_AWAITING = (
    select(Checkup)
    .join(Enrolment)
    .where(Enrolment.participant_id == bindparam("participant_id"), Checkup.status == CheckupStatus.awaiting.value)
    .with_for_update(of=Checkup)
)


def close_answered(ctx: Context, session: Session, checkup: Checkup, now: datetime) -> bool:
    """Close an open check-up as answered (any pending reminder or call is dropped) and plan the next."""
    closing = Checkup.closing(CheckupStatus.answered, now)
    closed = session.execute(
        _CLOSE_ANSWERED, {"checkup_id": checkup.id, **{f"new_{column}": value for column, value in closing.items()}}
    )
    if not closed.rowcount:
        return False
    for column, value in closing.items():
        set_committed_value(checkup, column, value)
    enrolment = session.get(Enrolment, checkup.enrolment_id, populate_existing=True)
    assert enrolment is not None
    enrolment.missed_in_a_row = 0
    plan_next(ctx, session, enrolment, now)
    return True


_ANY_ANSWER = select(Answer.__table__.c.id).where(Answer.__table__.c.checkup_id == bindparam("checkup_id")).limit(1)
_UNDERSTOOD = _ANY_ANSWER.where(Answer.__table__.c.parsed.is_(True))


def has_answers(session: Session, checkup_id: int, understood: bool = False) -> bool:
    """Whether the check-up has any answer (partly answered is contact), or, with ``understood``, any we
    could read (a mis-key or an unreadable reply is not someone answering)."""
    statement = _UNDERSTOOD if understood else _ANY_ANSWER
    return session.execute(statement, {"checkup_id": checkup_id}).first() is not None


def awaiting_checkup(session: Session, participant_id: int) -> Checkup | None:
    return session.scalars(_AWAITING, {"participant_id": participant_id}).first()
