"""What a reply does: crisis words first, then answers to the check-up it belongs to, then risk rules.

- Every message is scanned for the protocol's crisis words, whatever the state of the check-up or the
  enrolment: an urgent flag at once, and the crisis reply at once, even at night or while paused (never to
  a number that opted out; the flag is raised all the same).
- One question at a time (``one_by_one``): the reply answers the first unanswered question; the next one is
  sent. A reply we cannot understand gets one polite clarification; a second is kept as unparsed and the
  conversation moves on. ``all_at_once``: one reply may answer them all.
- A late reply to a check-up that closed in the last week is recorded against it.
- A request for a call (:mod:`.intent`) is a high flag: the keyword alone (``CALL``) stops there; in the
  person's own words beside an answer ("yes, used last night. please call me"), the answer counts too.
- A message that answers nothing (between check-ups, or after every question was answered) is a person
  reaching out: unless it only says thanks or ok (or is an automatic reply), it becomes a medium flag so
  that a volunteer reads it. So does an answer still unreadable after the clarification. Not after STOP or
  a withdrawal: no one calls a person who asked us to stop (crisis words are flagged all the same).
- After every answer the protocol's risk rules run on the person's history; what fires becomes (or adds to)
  their one open flag. Answers keyed in on an automated call (:mod:`.voice`) go through the same
  :func:`evaluate` and :func:`maybe_end_step_up`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..models import Answer, Checkup, CheckupStatus, Enrolment, EnrolmentStatus, MessageKind, OutboundMessage
from ..protocols.durations import Duration
from ..protocols.schedule import zone
from ..protocols.schema import DeliveryMode, Protocol
from . import risk
from .answers import Parsed, awaiting_checkup, close_answered, questions_of, record_answer
from .context import Context
from .flags import raise_flag
from .intent import Call, call_request, is_acknowledgement
from .replies import parse_answer, parse_reply, scan_crisis

LATE_REPLY = timedelta(days=7)


@dataclass(frozen=True)
class Reply:
    """A message to send after the transaction: (key, kind, text, ignore opt-out)."""

    key: str
    kind: str
    text: str


@dataclass
class Handled:
    outcome: str
    replies: list[Reply] = field(default_factory=list)


# Statements built once, with bound parameters: building one costs more than running it on SQLite.
_LATEST_ENROLMENT = (
    select(Enrolment).where(Enrolment.participant_id == bindparam("participant_id")).order_by(Enrolment.id.desc())
)
_answers = Answer.__table__
_checkups = Checkup.__table__
# Plain statements on the tables (no ORM loading): the answers they read are written with statements too,
# never left pending in the session.
_ANSWERED = select(_answers.c.question_id).where(_answers.c.checkup_id == bindparam("checkup_id"))
# Every answer of an enrolment, parsed or not, in the order history() reads them: what a reply needs to
# know (which questions its check-up has answered) and what the risk rules need, in one statement.
_ENROLMENT_ANSWERS = (
    select(
        _answers.c.checkup_id,
        _answers.c.question_id,
        _answers.c.value_int,
        _answers.c.value_text,
        _answers.c.parsed,
        _checkups.c.seq,
        _answers.c.id,
    )
    .select_from(_answers.join(_checkups, _checkups.c.id == _answers.c.checkup_id))
    .where(_checkups.c.enrolment_id == bindparam("enrolment_id"))
    .order_by(_checkups.c.seq, _answers.c.id)
)
_CLARIFIED = select(OutboundMessage.__table__.c.id).where(OutboundMessage.__table__.c.key == bindparam("key"))
_RECENTLY_CLOSED = (
    select(Checkup)
    .join(Enrolment)
    .where(
        Enrolment.participant_id == bindparam("participant_id"),
        Checkup.status.in_((CheckupStatus.missed.value, CheckupStatus.answered.value)),
        Checkup.closed_at >= bindparam("since"),
    )
    .order_by(Checkup.closed_at.desc())
)
_STEP_UP_RECENT = (
    select(Checkup)
    .where(
        Checkup.enrolment_id == bindparam("enrolment_id"),
        Checkup.id != bindparam("closing_id"),
        Checkup.due_at >= bindparam("began"),
        Checkup.status.in_((CheckupStatus.answered.value, CheckupStatus.missed.value)),
    )
    .order_by(Checkup.due_at.desc())
    .limit(bindparam("limit"))
)


def latest_enrolment(session: Session, participant_id: int) -> Enrolment | None:
    return session.scalars(_LATEST_ENROLMENT, {"participant_id": participant_id}).first()


def handle_reply(ctx: Context, session: Session, participant_id: int, inbound_id: int, body: str) -> Handled:
    """Act on a reply from a matched participant, inside the caller's transaction."""
    now = ctx.now()
    enrolment = latest_enrolment(session, participant_id)
    if enrolment is None:
        return Handled("no_enrolment")
    protocol = ctx.protocols.by_version_id(session, enrolment.protocol_version_id)
    language = enrolment.participant.language
    handled = Handled("no_checkup")

    words = scan_crisis(body, protocol.crisis.words)
    if words:
        handled.replies.append(crisis_response(session, participant_id, protocol, language, inbound_id, now))
        # Not an answer to a question: no "sorry, we didn't catch that" after a crisis reply, and no
        # reminders while a person is on it.
        checkup = awaiting_checkup(session, participant_id)
        if checkup is not None:
            stop_reminders(checkup)
        return Handled("crisis", handled.replies)

    call = call_request(body)
    if call is Call.keyword:
        # The help text says "reply CALL": a person asking to talk gets a person, whatever else is going on.
        _call_requested(session, participant_id, inbound_id, now, KEYWORD_CALL_REASON)
        checkup = awaiting_checkup(session, participant_id)
        if checkup is not None:
            stop_reminders(checkup)  # they are talking to us, and a person will call
        return Handled("call_requested", handled.replies)

    checkup = awaiting_checkup(session, participant_id) or _recently_closed(session, participant_id, now)
    if checkup is None:
        if call is Call.words:
            _call_requested(session, participant_id, inbound_id, now)
            return Handled("call_requested", handled.replies)
        return _read_by_a_person(session, enrolment, inbound_id, body, now, MESSAGE_REASON)
    questions = questions_of(protocol, checkup)
    # (checkup_id, question_id, value_int, value_text, parsed, seq, id) of every answer of the enrolment:
    # history() is then worked out from these and the answers this reply adds, without reading them again.
    # A check-up of an older enrolment (a late reply) reads its answers on its own.
    rows: list[Any] | None = None
    if checkup.enrolment_id == enrolment.id:
        rows = list(session.execute(_ENROLMENT_ANSWERS, {"enrolment_id": enrolment.id}).all())
        answered = {row[1] for row in rows if row[0] == checkup.id}
    else:
        answered = set(session.execute(_ANSWERED, {"checkup_id": checkup.id}).scalars())
    remaining = [q for q in questions if q.id not in answered]
    if not remaining:
        if call is Call.words:
            _call_requested(session, participant_id, inbound_id, now)
            return Handled("call_requested", handled.replies)
        return _read_by_a_person(session, enrolment, inbound_id, body, now, MESSAGE_REASON)
    if protocol.delivery is DeliveryMode.all_at_once:
        results = list(zip(remaining, parse_reply(remaining, body), strict=True))
    else:
        results = [(remaining[0], parse_answer(remaining[0], body))]
    understood = [(q, p) for q, p in results if p.ok]
    if not understood and call is Call.words:
        # "can someone ring me, not doing great": no "sorry, we didn't catch that"; a person will call.
        _call_requested(session, participant_id, inbound_id, now)
        stop_reminders(checkup)
        return Handled("call_requested", handled.replies)
    if not understood:
        question = remaining[0]
        clarify_key = f"checkup:{checkup.id}:clarify:{question.id}"
        asked_before = session.execute(_CLARIFIED, {"key": clarify_key}).scalars().first()
        if asked_before is None:
            handled.replies.append(
                Reply(clarify_key, MessageKind.clarify.value, protocol.text(protocol.messages.clarify, language))
            )
            stop_reminders(checkup)
            return Handled("clarify", handled.replies)
        # Asked once already: keep it as unparsed (the raw text is in the inbound message) and move on; a
        # person reads what they wrote.
        results = [(question, Parsed(False))]
        _read_by_a_person(session, enrolment, inbound_id, body, now, UNREADABLE_REASON)
    for question, parsed in results:
        answer_id = record_answer(session, checkup, question, parsed, now, inbound_id=inbound_id)
        if rows is None:
            continue
        if answer_id is None:  # answered meanwhile: read them all again
            rows = None
        else:
            rows.append(
                (checkup.id, question.id, parsed.value_int, parsed.value_text, parsed.ok, checkup.seq, answer_id)
            )
    parsed_rows = None if rows is None else _parsed_in_order(rows)
    evaluate(ctx, session, enrolment, protocol, checkup, now, rows=parsed_rows)
    if call is Call.words:  # "yes, used last night. please call me": the answer counts, and so does the ask
        _call_requested(session, participant_id, inbound_id, now)
    still = [q for q in remaining if q.id not in {question.id for question, _ in results}]
    if still and checkup.status == CheckupStatus.awaiting.value:
        stop_reminders(checkup)
        nxt = still[0]
        handled.replies.append(
            Reply(f"checkup:{checkup.id}:q:{nxt.id}", MessageKind.question.value, protocol.text(nxt.text, language))
        )
        return Handled("next_question", handled.replies)
    if checkup.status == CheckupStatus.awaiting.value:
        maybe_end_step_up(session, enrolment, protocol, checkup, now, rows=parsed_rows)
        close_answered(ctx, session, checkup, now)
        handled.replies.append(
            Reply(
                f"checkup:{checkup.id}:closing",
                MessageKind.closing.value,
                protocol.text(protocol.messages.closing, language),
            )
        )
    return Handled("answered", handled.replies)


CRISIS_REASON = "Crisis words in a message: call now"
KEYWORD_CALL_REASON = "Asked for a call (replied CALL)"
WORDS_CALL_REASON = "Asked for a call in their own words"
CALL_WITHIN = timedelta(hours=24)  # the high tier's deadline (EVIDENCE.md)
MESSAGE_REASON = "Sent a message that answers no question: read it"
UNREADABLE_REASON = "Wrote something that is not an answer, even after we asked again: read it"
MESSAGE_WITHIN = timedelta(hours=72)  # the medium tier's deadline (EVIDENCE.md)

# Where a message may still lead to a call: not after STOP or a withdrawal.
_READ_WHILE = frozenset({EnrolmentStatus.active.value, EnrolmentStatus.paused.value, EnrolmentStatus.completed.value})


def _read_by_a_person(
    session: Session, enrolment: Enrolment, inbound_id: int, body: str, now: datetime, reason: str
) -> Handled:
    """What they wrote goes to a volunteer (a medium flag, or a reason added to their open flag), unless it only
    says thanks or ok, or they stopped the programme (it stays in their history)."""
    if is_acknowledgement(body) or enrolment.status not in _READ_WHILE:
        return Handled("no_checkup")
    raise_flag(
        session,
        enrolment.participant_id,
        "medium",
        reason,
        now + MESSAGE_WITHIN,
        now,
        source="message",
        detail={"inbound_id": inbound_id},
    )
    return Handled("message_flagged")


def _call_requested(
    session: Session, participant_id: int, inbound_id: int, now: datetime, reason: str = WORDS_CALL_REASON
) -> None:
    detail = {"inbound_id": inbound_id}
    raise_flag(session, participant_id, "high", reason, now + CALL_WITHIN, now, source="call-request", detail=detail)


def crisis_response(
    session: Session,
    participant_id: int,
    protocol: Protocol,
    language: str,
    inbound_id: int,
    now: datetime,
    reason: str = CRISIS_REASON,
    shared: bool = False,
) -> Reply:
    """An urgent flag for the participant, due within the protocol's crisis time, and the crisis reply to
    send: what crisis words in a message bring, matched to the participant or from a number they share."""
    detail: dict[str, object] = {"inbound_id": inbound_id, **({"shared": True} if shared else {})}
    due_by = now + protocol.crisis.respond_within.to_timedelta()
    raise_flag(session, participant_id, "urgent", reason, due_by, now, source="crisis", detail=detail)
    text = protocol.text(protocol.crisis.reply, language)
    return Reply(f"inbound:{inbound_id}:crisis", MessageKind.crisis_reply.value, text)


def stop_reminders(checkup: Checkup) -> None:
    """They are talking to us: no reminder or call while the conversation goes on; it closes on time."""
    if checkup.action in ("remind", "fallback") and checkup.action_state == "ready" and checkup.closes_at:
        checkup.action = "close"
        checkup.action_at = checkup.closes_at


def _recently_closed(session: Session, participant_id: int, now: datetime) -> Checkup | None:
    """A late reply belongs to the check-up that closed without (all) its answers in the last week."""
    return session.scalars(_RECENTLY_CLOSED, {"participant_id": participant_id, "since": now - LATE_REPLY}).first()


AnswerRows = Sequence[tuple[int, str, int | None, str | None]]


def _parsed_in_order(rows: Sequence[Any]) -> AnswerRows:
    """The parsed answers among rows of ``_ENROLMENT_ANSWERS``, by check-up seq then answer id, as
    (checkup_id, question_id, value_int, value_text): what :func:`history` reads."""
    return [tuple(row[:4]) for row in sorted(rows, key=lambda r: (r[5], r[6])) if row[4]]


def history(
    session: Session,
    enrolment: Enrolment,
    checkup: Checkup | None,
    now: datetime,
    missed_in_a_row: int = 0,
    rows: AnswerRows | None = None,
) -> risk.History:
    """What the risk rules need: this check-up's answers, the previous ones, the person's baseline.

    ``rows``, when given, are the enrolment's parsed answers as read in this transaction, in the order
    of the query here: (checkup_id, question_id, value_int, value_text) by check-up seq, then answer id.
    """
    if rows is None:
        rows = _parsed_in_order(session.execute(_ENROLMENT_ANSWERS, {"enrolment_id": enrolment.id}).all())
    current: dict[str, int | str | None] = {}
    previous: dict[str, int | None] = {}
    firsts: dict[str, list[int]] = {}
    later = False  # past this check-up's answers: what follows is of later check-ups (an earlier one re-run)
    for checkup_id, question_id, value_int, value_text in rows:
        value = value_text if value_text is not None else value_int
        if checkup is not None and checkup_id == checkup.id:
            current[question_id] = value
            later = True
            continue
        if later:  # previous answers and the baseline are what came before this check-up, never after it
            break
        if value_int is not None and value_text is None:
            previous[question_id] = value_int
            firsts.setdefault(question_id, []).append(value_int)
    baseline = {q: risk.baseline_of(values) for q, values in firsts.items()}
    local_today = now.astimezone(zone(enrolment.participant.timezone)).date()
    return risk.History(
        answers=current,
        previous=previous,
        baseline=baseline,
        missed_in_a_row=missed_in_a_row,
        days_since_anchor=(local_today - enrolment.anchor_date).days,
        overdose_risk=enrolment.overdose_risk is not None,
    )


def evaluate(
    ctx: Context,
    session: Session,
    enrolment: Enrolment,
    protocol: Protocol,
    checkup: Checkup | None,
    now: datetime,
    missed_in_a_row: int = 0,
    rows: AnswerRows | None = None,
) -> list[risk.Fired]:
    fired = risk.evaluate(protocol.risk_rules, history(session, enrolment, checkup, now, missed_in_a_row, rows))
    for rule in fired:
        raise_flag(
            session,
            enrolment.participant_id,
            rule.severity.value,
            risk.explain(rule),
            rule.respond_within.after_instant(now),
            now,
            source=f"rule:{rule.rule_id}",
            detail={"evidence": rule.evidence, "checkup_id": checkup.id if checkup else None},
        )
    if fired and protocol.step_up is not None:
        enrolment.step_up_until = protocol.step_up.for_.after_instant(now)
    return fired


def maybe_end_step_up(
    session: Session,
    enrolment: Enrolment,
    protocol: Protocol,
    closing: Checkup,
    now: datetime,
    rows: AnswerRows | None = None,
) -> None:
    """Back to the protocol once the last ``back_after_clear`` check-ups since the step-up began (step-up
    ones, or the protocol's own when they came sooner) were answered in full and fired no rule."""
    if protocol.step_up is None or enrolment.step_up_until is None:
        return
    length = protocol.step_up.for_
    began = Duration(-length.amount, length.unit).after_instant(enrolment.step_up_until)
    needed = protocol.step_up.back_after_clear
    recent = session.scalars(
        _STEP_UP_RECENT,
        {"enrolment_id": enrolment.id, "closing_id": closing.id, "began": began, "limit": needed - 1},
    ).all()
    candidates = [closing, *recent]
    if len(candidates) < needed or any(c.status == CheckupStatus.missed.value for c in recent):
        return
    if all(_clear(protocol, c, history(session, enrolment, c, now, rows=rows)) for c in candidates):
        enrolment.step_up_until = None


def _clear(protocol: Protocol, checkup: Checkup, answers: risk.History) -> bool:
    """Every question of the check-up answered and understood, and no rule fired: a half-answered call (a
    hang-up after the first key) or a reply we could not read says nothing about the questions left."""
    asked = questions_of(protocol, checkup)
    return all(q.id in answers.answers for q in asked) and not risk.evaluate(protocol.risk_rules, answers)


def after_missed(ctx: Context, session: Session, enrolment: Enrolment, checkup: Checkup, now: datetime) -> None:
    """A check-up closed without a reply: the missed-in-a-row rules run (each threshold once per run)."""
    protocol = ctx.protocols.by_version_id(session, enrolment.protocol_version_id)
    # No answers are read: with no answer to this check-up, no condition on answers can hold (each needs the
    # current answer; previous answers and the baseline only count against it), so only missed-in-a-row and
    # the days since the anchor can fire. Reading five years of answers for nothing cost every missed close.
    evaluate(ctx, session, enrolment, protocol, None, now, missed_in_a_row=enrolment.missed_in_a_row, rows=())
