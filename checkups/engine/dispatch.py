"""Claim due check-up actions and perform them: exactly once, inside the send window.

The life of an action (``send``, ``remind``, ``fallback``, ``close``) on a check-up row:

    ready --tick claims (guarded UPDATE, SKIP LOCKED)--> claimed --worker (guarded UPDATE)--> running
      ^                                                     |                                   |
      +------------- sweeper, when the lease expires -------+-----------------------------------+

A worker holds the claim token it was given; any other worker (a redelivered task, a second scheduler's
claim) finds the token changed and does nothing. Before a provider request, the outbound message is
committed under a unique key; a request whose outcome is unknown (timeout, crash) is looked up with the
provider on the next attempt, and only resent if the provider never got it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, contains_eager, joinedload, sessionmaker

from ..channels.base import ChannelError, Outgoing, Receipt
from ..logging import get_logger
from ..models import (
    OPEN_CHECKUP,
    Action,
    ActionState,
    Checkup,
    CheckupStatus,
    Enrolment,
    EnrolmentStatus,
    Lease,
    MessageStatus,
    OutboundMessage,
    Participant,
    PhoneOptOut,
)
from ..protocols.schedule import in_window, next_window_opening, window_closing, zone
from ..protocols.schema import Protocol
from . import compose
from .answers import has_answers
from .context import Context
from .conversation import after_missed
from .enrolment import opt_out
from .flags import OPTED_OUT_CODE, UNUSABLE_NUMBER_CODES, flag_unusable_number
from .messaging import new_message, provider_outcome, record_outcome
from .planner import enrolment_window, plan_next, window_of

log = get_logger(__name__)

Outcome = Literal[
    "stale", "nothing", "cancelled", "skipped", "deferred", "sent", "reconciled", "missed", "retry", "failed", "unknown"
]
MESSAGE_ACTIONS = (Action.send.value, Action.remind.value, Action.fallback.value)


@dataclass(frozen=True)
class Claim:
    checkup_id: int
    token: str


# --- claiming ---------------------------------------------------------------------------------------------


# Statements built once, with bound parameters: building one costs more than running it on SQLite. Those
# on the tables themselves (not the ORM classes) skip the ORM's statement handling: nothing they touch is
# loaded in the session, or it is brought up to date by hand.
_checkups = Checkup.__table__
_enrolments = Enrolment.__table__
_participants = Participant.__table__
_outbound = OutboundMessage.__table__
_leases = Lease.__table__

_DUE = (
    select(_checkups.c.id)
    .where(
        _checkups.c.action_state == ActionState.ready.value,
        _checkups.c.action.is_not(None),
        _checkups.c.action_at <= bindparam("now"),
    )
    .order_by(_checkups.c.action_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(_checkups)
    .where(_checkups.c.id.in_(_DUE.scalar_subquery()), _checkups.c.action_state == ActionState.ready.value)
    .values(
        action_state=ActionState.claimed.value, claim_token=bindparam("token"), lease_until=bindparam("lease_until")
    )
    .returning(_checkups.c.id)
)


def claim_due(session: Session, now: datetime, limit: int, lease_until: datetime) -> list[Claim]:
    """Claim up to ``limit`` due actions, oldest first. Safe with any number of concurrent callers.

    PostgreSQL skips rows another transaction has locked (FOR UPDATE SKIP LOCKED); SQLite has one writer
    at a time, and the ``action_state = 'ready'`` guard makes a second claim of a row a no-op anyway.
    """
    token = uuid.uuid4().hex
    claimed = session.execute(_CLAIM, {"now": now, "limit": limit, "token": token, "lease_until": lease_until})
    return [Claim(row[0], token) for row in claimed]


_WINDOWS = (
    select(
        _checkups.c.id,
        _checkups.c.action,
        _participants.c.timezone,
        _enrolments.c.window_start,
        _enrolments.c.window_end,
        _enrolments.c.window_days,
    )
    .select_from(
        _checkups.join(_enrolments, _checkups.c.enrolment_id == _enrolments.c.id).join(
            _participants, _enrolments.c.participant_id == _participants.c.id
        )
    )
    .where(_checkups.c.id.in_(bindparam("ids", expanding=True)))
)
_DEFER = (
    update(_checkups)
    .where(_checkups.c.id == bindparam("checkup_id"), _checkups.c.action_state == ActionState.claimed.value)
    .values(
        action_state=ActionState.ready.value,
        claim_token=None,
        lease_until=None,
        action_at=bindparam("action_at"),
        deferrals=_checkups.c.deferrals + 1,
    )
)


def defer_outside_window(ctx: Context, session: Session, claims: list[Claim], now: datetime) -> list[Claim]:
    """Check the window at claim time: send actions outside their window go back, due at its next opening.

    Returns the claims still to perform.
    """
    if not claims:
        return []
    ids = [c.checkup_id for c in claims]
    rows = session.execute(_WINDOWS, {"ids": ids}).all()
    keep = set(ids)
    for row in rows:
        if row.action not in MESSAGE_ACTIONS:
            continue
        window = window_of(row.window_start, row.window_end, row.window_days)
        tz = zone(row.timezone)
        if not in_window(now, tz, window):
            session.execute(_DEFER, {"checkup_id": row.id, "action_at": next_window_opening(now, tz, window)})
            keep.discard(row.id)
    return [c for c in claims if c.checkup_id in keep]


# The condition of the partial index ix_checkups_leased, with its values written into the SQL. SQLite uses a
# partial index only when the query states the index's condition with the same literal values: with a
# parameter list (IN (?, ?)) it read the whole checkups table at every tick (16 ms at 90,000 rows, and
# growing). PostgreSQL plans it the same either way.
LEASED = Checkup.action_state.in_(
    bindparam(
        "leased_states",
        (ActionState.claimed.value, ActionState.running.value),
        expanding=True,
        literal_execute=True,
    )
)


_EXPIRED = select(Checkup.id).where(LEASED, Checkup.lease_until < bindparam("now")).with_for_update(skip_locked=True)
# SKIP LOCKED: a sending message locked right now is being written by its send, back from the provider with
# the answer (_record writes the message, then locks the check-up): waiting for it while holding the check-up
# would be a deadlock on PostgreSQL. It is left as it is: the next attempt looks up a message still sending
# just as one marked unknown.
_SENDING_UNKNOWN = (
    update(_outbound)
    .where(
        _outbound.c.id.in_(
            select(_outbound.c.id)
            .where(
                _outbound.c.checkup_id.in_(bindparam("ids", expanding=True)),
                _outbound.c.status == MessageStatus.sending.value,
            )
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(status=MessageStatus.unknown.value, updated_at=bindparam("now"))
)


def sweep_expired(session: Session, now: datetime) -> int:
    """Return actions whose claim or send lease expired (a lost task, a dead worker) to the queue.

    A send that was running may have reached the provider: its message is marked unknown, and the next
    attempt reconciles it before anything is resent. The sweeper never waits for a message.
    """
    expired = session.execute(_EXPIRED, {"now": now}).scalars().all()
    if not expired:
        return 0
    session.execute(_SENDING_UNKNOWN, {"ids": expired, "now": now})
    session.execute(
        update(Checkup)
        .where(Checkup.id.in_(expired), Checkup.lease_until < now)
        .values(action_state=ActionState.ready.value, claim_token=None, lease_until=None)
    )
    log.warning("leases expired; actions returned", count=len(expired))
    return len(expired)


_RENEW = (
    update(_leases)
    .where(
        _leases.c.name == bindparam("lease_name"),
        (_leases.c.holder == bindparam("new_holder")) | (_leases.c.expires_at <= bindparam("now")),
    )
    .values(holder=bindparam("new_holder"), expires_at=bindparam("until"))
    .returning(_leases.c.name)
)


def acquire_leadership(session: Session, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take or renew the named lease; True if ``holder`` now holds it until ``until``."""
    renewed = session.execute(_RENEW, {"lease_name": name, "new_holder": holder, "now": now, "until": until}).first()
    if renewed is not None:
        return True
    # No lease yet. RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = session.execute(
        insert(Lease)
        .values(name=name, holder=holder, expires_at=until)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Lease.name)
    ).first()
    return created is not None


def release_leadership(session: Session, name: str, holder: str, now: datetime) -> None:
    """Give up the lease at once (a clean shutdown), so another process can lead without waiting."""
    session.execute(update(Lease).where(and_(Lease.name == name, Lease.holder == holder)).values(expires_at=now))


# --- performing -------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    message_id: int
    outgoing: Outgoing
    action: str
    step: tuple[str | None, int, int]  # where the send left the check-up (see _step)


@dataclass
class _Reconcile:
    messages: list[tuple[int, Outgoing, datetime]]  # (message id, what was sent, when)


@dataclass
class PerformResult:
    outcome: Outcome
    detail: dict[str, object] = field(default_factory=dict)


def perform(ctx: Context, factory: sessionmaker[Session], checkup_id: int, token: str) -> PerformResult:
    """Carry out the claimed action of one check-up. Idempotent: a stale or repeated call does nothing.

    No transaction is open while the provider is asked anything (a send, or a reconciliation lookup).
    """
    with factory() as session, session.begin():
        now = ctx.now()
        started = session.execute(
            _START, {"checkup_id": checkup_id, "token": token, "lease_until": now + ctx.tuning.send_lease}
        )
        if not started.rowcount:
            return PerformResult("stale")
        # One statement for the check-up, its enrolment and participant (_decide needs all three), whether
        # the number opted out, and whether an earlier attempt is unsettled.
        checkup, opted_out, unsettled = session.execute(_FOR_DECISION, {"checkup_id": checkup_id}).one()
        step = _decide(ctx, session, checkup, now, opted_out=opted_out is not None, unsettled=bool(unsettled))

    if isinstance(step, _Reconcile):
        try:
            found = {mid: ctx.channel(out.channel).lookup(out, after) for mid, out, after in step.messages}
        except ChannelError as error:
            found = None
            log.warning("reconciliation lookup failed; will try again", checkup_id=checkup_id, code=error.code)
        with factory() as session, session.begin():
            now = ctx.now()
            checkup = session.get(Checkup, checkup_id, with_for_update=True, populate_existing=True)
            assert checkup is not None
            if checkup.claim_token != token or checkup.action_state != ActionState.running.value:
                return PerformResult("stale")
            if found is None:
                _release(checkup)
                checkup.action_at = now + ctx.tuning.reconcile_delay
                return PerformResult("unknown")
            settled = _settle(ctx, session, checkup, found, now)
            if settled is not None:
                return settled
            step = _decide(ctx, session, checkup, now)
            assert not isinstance(step, _Reconcile)

    if isinstance(step, PerformResult):
        return step
    prepared = step
    channel = ctx.channel(prepared.outgoing.channel)
    receipt: Receipt | None = None
    error: ChannelError | None = None
    try:
        receipt = channel.send(prepared.outgoing)
    except ChannelError as caught:
        error = caught
    except Exception as caught:  # a bug or a network failure mid-request: the provider may have it
        log.exception("send raised; outcome unknown", checkup_id=checkup_id)
        error = ChannelError(type(caught).__name__, outcome_unknown=True)

    with factory() as session, session.begin():
        return _record(ctx, session, checkup_id, token, prepared, receipt, error)


# The session is new: nothing in it to bring up to date or to flush first.
_START = (
    update(_checkups)
    .where(
        _checkups.c.id == bindparam("checkup_id"),
        _checkups.c.action_state == ActionState.claimed.value,
        _checkups.c.claim_token == bindparam("token"),
    )
    .values(action_state=ActionState.running.value, lease_until=bindparam("lease_until"))
)
_UNSETTLED_STATUSES = (MessageStatus.sending.value, MessageStatus.unknown.value)
_FOR_DECISION = (
    select(
        Checkup,
        PhoneOptOut.phone_hash,
        select(OutboundMessage.id)
        .where(OutboundMessage.checkup_id == Checkup.id, OutboundMessage.status.in_(_UNSETTLED_STATUSES))
        .exists(),
    )
    .join(Checkup.enrolment)
    .join(Enrolment.participant)
    .outerjoin(PhoneOptOut, PhoneOptOut.phone_hash == Participant.phone_hash)
    .options(contains_eager(Checkup.enrolment).contains_eager(Enrolment.participant))
    .where(Checkup.id == bindparam("checkup_id"))
    .execution_options(populate_existing=True)
)
# FOR UPDATE of the check-up only: the enrolment is joined to read it, not to lock it.
_FOR_RECORD = (
    select(Checkup)
    .options(joinedload(Checkup.enrolment, innerjoin=True))
    .where(Checkup.id == bindparam("checkup_id"))
    .with_for_update(of=Checkup)
    .execution_options(populate_existing=True)
)
_CREATE_MESSAGE = _outbound.insert().returning(_outbound.c.id)


def _release(checkup: Checkup) -> None:
    checkup.action_state = ActionState.ready.value
    checkup.claim_token = None
    checkup.lease_until = None


def _decide(
    ctx: Context,
    session: Session,
    checkup: Checkup,
    now: datetime,
    opted_out: bool | None = None,
    unsettled: bool | None = None,
) -> _Prepared | _Reconcile | PerformResult:
    """What to do with the claimed action. ``opted_out`` and ``unsettled`` (whether an earlier attempt's
    outcome is unknown), when given, were read in this transaction; when None, they are read here."""
    enrolment = checkup.enrolment
    participant = enrolment.participant
    if checkup.status not in OPEN_CHECKUP or checkup.action is None:
        _release(checkup)
        return PerformResult("nothing")
    if enrolment.status != EnrolmentStatus.active.value or (
        session.get(PhoneOptOut, participant.phone_hash) is not None if opted_out is None else opted_out
    ):
        # Consent is checked again just before every send.
        checkup.status = CheckupStatus.cancelled.value
        checkup.action = checkup.action_at = None
        checkup.closed_at = now
        checkup.note = f"enrolment {enrolment.status}" if enrolment.status != "active" else "number opted out"
        _release(checkup)
        return PerformResult("cancelled")
    protocol = ctx.protocols.by_version_id(session, enrolment.protocol_version_id)

    if checkup.action == Action.close.value:
        _close_missed(ctx, session, checkup, now)
        return PerformResult("missed")

    if checkup.action == Action.send.value and checkup.status != CheckupStatus.pending.value:
        checkup.action = checkup.action_at = None
        _release(checkup)
        return PerformResult("nothing")
    if (
        checkup.action in (Action.remind.value, Action.fallback.value)
        and checkup.status != CheckupStatus.awaiting.value
    ):
        checkup.action = checkup.action_at = None
        _release(checkup)
        return PerformResult("nothing")

    if checkup.action == Action.send.value and protocol.non_response.missed_after.after_instant(checkup.due_at) <= now:
        # Too late to be useful (an outage, a long deferral): skipped, never a burst of stale check-ups.
        checkup.status = CheckupStatus.skipped.value
        checkup.action = checkup.action_at = None
        checkup.closed_at = now
        checkup.note = "not sent in time"
        _release(checkup)
        plan_next(ctx, session, enrolment, now)
        return PerformResult("skipped")

    if checkup.action in (Action.remind.value, Action.fallback.value) and has_answers(
        session, checkup.id, understood=True
    ):
        # They are answering (a text conversation, or keys on a call, whenever its send was recorded): no
        # reminder, and no fallback asking the first question again, which their next reply would answer in
        # the wrong place. It closes on time with what they gave.
        checkup.action, checkup.action_at = Action.close.value, checkup.closes_at
        _release(checkup)
        return PerformResult("nothing")

    tz = zone(participant.timezone)
    window = enrolment_window(enrolment)
    if not in_window(now, tz, window):
        opening = next_window_opening(now, tz, window)
        checkup.deferrals += 1
        _release(checkup)
        if checkup.action != Action.send.value and checkup.closes_at is not None and opening >= checkup.closes_at:
            _consume_followup(checkup, now)
            _schedule_followup(checkup, protocol)
        else:
            checkup.action_at = opening
        return PerformResult("deferred", {"until": opening.isoformat()})

    earlier = _unsettled(ctx, session, checkup) if unsettled is not False else []
    if earlier:
        return _Reconcile(earlier)

    channel = _channel_for(checkup, enrolment.channel, protocol)
    if channel is None:  # a voice fallback the protocol does not have
        _consume_followup(checkup, now)
        _schedule_followup(checkup, protocol)
        _release(checkup)
        return PerformResult("nothing")
    kind, body = compose.action_message(protocol, checkup.action, checkup.phase, participant.language, channel)
    checkup.attempts += 1
    # Unique per request: attempts grows with each request, and a postponement (which gives the attempt
    # back) grows deferrals, so the pair never repeats.
    key = f"checkup:{checkup.id}:{checkup.action}:{checkup.reminders_sent}:{checkup.attempts}.{checkup.deferrals}"
    # A plain INSERT (no ORM object: nothing reads it back in this transaction); the check-up's new attempt
    # count is written at the commit, in the same transaction.
    message_id = session.execute(
        _CREATE_MESSAGE,
        new_message(ctx, key, participant.id, checkup.id, kind, channel, body, now),
    ).scalar_one()
    outgoing = Outgoing(
        key=key,
        participant_id=participant.id,
        to=ctx.vault.decrypt(participant.phone_cipher),
        body=body,
        kind=kind,
        channel=channel,
        valid_until=window_closing(now, tz, window),
        timezone=participant.timezone,
    )
    return _Prepared(message_id, outgoing, checkup.action, _step(checkup))


def _step(checkup: Checkup) -> tuple[str | None, int, int]:
    """Where a check-up is: its action, the reminders sent, the attempts made. Every new attempt moves it on
    (one more attempt), as does taking in a send that went out (the next action, attempts back to 0) and
    closing it (no action); a deferral does not, nor a postponement (it gives back an attempt never made)."""
    return checkup.action, checkup.reminders_sent, checkup.attempts


def _channel_for(checkup: Checkup, preferred: str, protocol: Protocol) -> str | None:
    if checkup.action == Action.fallback.value:
        fallback = protocol.channels.fallback
        if fallback is None or fallback.value == preferred:
            return None
        return fallback.value
    return preferred


def _unsettled(ctx: Context, session: Session, checkup: Checkup) -> list[tuple[int, Outgoing, datetime]]:
    """Earlier attempts whose outcome is unknown: they are looked up before anything new is sent."""
    messages = session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.checkup_id == checkup.id,
            OutboundMessage.status.in_((MessageStatus.sending.value, MessageStatus.unknown.value)),
        )
        .order_by(OutboundMessage.id)
    ).all()
    participant = checkup.enrolment.participant
    return [
        (
            message.id,
            Outgoing(
                key=message.key,
                participant_id=participant.id,
                to=ctx.vault.decrypt(participant.phone_cipher),
                body=ctx.vault.decrypt(message.body_cipher),
                kind=message.kind,
                channel=message.channel,
                timezone=participant.timezone,
            ),
            message.created_at,
        )
        for message in messages
    ]


def _settle(
    ctx: Context, session: Session, checkup: Checkup, found: dict[int, Receipt | None], now: datetime
) -> PerformResult | None:
    """Record what the lookups found; if an attempt did go out, the action is done."""
    protocol = ctx.protocols.by_version_id(session, checkup.enrolment.protocol_version_id)
    for message_id, receipt in found.items():
        message = session.get(OutboundMessage, message_id, with_for_update=True)
        assert message is not None
        message.updated_at = now
        if receipt is None:
            message.status = MessageStatus.failed.value
            message.error_code = "not-sent"
            continue
        message.status = MessageStatus.sent.value
        message.provider_sid = receipt.sid
        message.segments = receipt.segments
        message.sent_at = message.created_at
        action = message.key.split(":")[2]
        _succeeded(checkup, action, message.created_at, message.channel, protocol)
        log.info("send reconciled: it had gone out", checkup_id=checkup.id, message_id=message.id)
        return PerformResult("reconciled")
    return None


def _record(
    ctx: Context,
    session: Session,
    checkup_id: int,
    token: str,
    prepared: _Prepared,
    receipt: Receipt | None,
    error: ChannelError | None,
) -> PerformResult:
    now = ctx.now()
    # The message first, then the check-up, as status callbacks lock them (one UPDATE: no need to load it).
    # The lease sweeper locks the check-up first but never waits for a message (SKIP LOCKED): if a send
    # outlives its lease just as the sweeper runs, the sweeper leaves this message alone and gives the
    # check-up back, while this transaction waits for the check-up; neither waits for the other.
    record_outcome(session, prepared.message_id, provider_outcome(receipt, error, now))
    checkup = session.scalars(_FOR_RECORD, {"checkup_id": checkup_id}).one_or_none()
    assert checkup is not None
    ours = checkup.claim_token == token and checkup.action_state == ActionState.running.value
    if not ours:
        # The lease ran out while we talked to the provider (the sweeper gave the action back), or the
        # check-up was closed (its enrolment stopped).
        if _step(checkup) != prepared.step:
            # It has moved on since (closed, or this attempt was looked up with the provider and settled):
            # only the message's record is brought up to date.
            log.warning("send finished after its lease expired", checkup_id=checkup_id)
            return PerformResult("stale")
        # Nothing attempted or taken in since: the provider's answer is still this send's to take in. Left to
        # the next attempt, it would be lost (only messages still sending or unknown are looked up): a send
        # that went out would go out again. A claim made since (even one at its lookup) finds it not its own.
        log.warning("send finished after its lease expired; outcome recorded", checkup_id=checkup_id)
    protocol = ctx.protocols.by_version_id(session, checkup.enrolment.protocol_version_id)
    if receipt is not None:
        _succeeded(checkup, prepared.action, now, prepared.outgoing.channel, protocol)
        return PerformResult("sent", {"sid": receipt.sid})
    assert error is not None
    _release(checkup)
    if error.outcome_unknown:
        checkup.action_at = now + ctx.tuning.reconcile_delay
        log.warning("send outcome unknown; will reconcile", checkup_id=checkup_id)
        return PerformResult("unknown")
    system_delay = _system_retry_delay(error)
    if system_delay is not None:
        # Nothing wrong with this message or this person: the provider is busy or down, our rate limit
        # is full, the window is closing, or our credentials are refused. Try later without using up an
        # attempt, so a provider outage never fails check-ups.
        checkup.attempts -= 1
        checkup.deferrals += 1
        checkup.action_at = now + system_delay
        log.log(
            40 if error.code == AUTHENTICATION_CODE else 20, "send postponed", checkup_id=checkup_id, code=error.code
        )
        return PerformResult("retry", {"code": error.code})
    retries = ctx.tuning.retry_delays
    if not error.permanent and checkup.attempts <= len(retries):
        checkup.action_at = now + retries[checkup.attempts - 1]
        log.info("send failed; will retry", checkup_id=checkup_id, code=error.code, attempt=checkup.attempts)
        return PerformResult("retry", {"code": error.code})
    log.warning("send failed", checkup_id=checkup_id, code=error.code, permanent=error.permanent)
    participant_id = checkup.enrolment.participant_id
    if error.code == OPTED_OUT_CODE:
        # The carrier says this number sent STOP: our own record follows it, for every enrolment.
        opt_out(ctx, session, checkup.enrolment.participant.phone_hash, "carrier-21610", actor="twilio")
        return PerformResult("failed", {"code": error.code})
    if error.code in UNUSABLE_NUMBER_CODES:
        flag_unusable_number(session, participant_id, error.code, now)
    if prepared.action == Action.send.value:
        checkup.status = CheckupStatus.failed.value
        checkup.action = checkup.action_at = None
        checkup.closed_at = now
        checkup.note = f"send failed ({error.code or 'error'})"
        plan_next(ctx, session, checkup.enrolment, now)
    else:
        _consume_followup(checkup, now)
        _schedule_followup(checkup, protocol)
    return PerformResult("failed", {"code": error.code})


AUTHENTICATION_CODE = "20003"
_SYSTEM_RETRY = {
    "rate-limited": timedelta(seconds=30),  # our shared per-sender rate limit
    "rate-limiter": timedelta(minutes=1),  # the rate limiter (Redis) is unreachable
    "20429": timedelta(seconds=30),  # Twilio is rate limiting us
    "window-closing": timedelta(minutes=1),  # the next attempt is deferred to the next window opening
    "connect": timedelta(minutes=1),  # Twilio unreachable before the request went out
    AUTHENTICATION_CODE: timedelta(minutes=10),  # credentials refused: staff must fix the settings
}


def _system_retry_delay(error: ChannelError) -> timedelta | None:
    if error.outcome_unknown:
        return None
    if error.code in _SYSTEM_RETRY:
        return _SYSTEM_RETRY[error.code]
    if error.code is not None and error.code.startswith("http-5"):
        return timedelta(minutes=1)  # a Twilio server error
    return None


def _succeeded(checkup: Checkup, action: str, at: datetime, channel: str, protocol: Protocol) -> None:
    if action == Action.send.value:
        checkup.status = CheckupStatus.awaiting.value
        checkup.sent_at = at
        checkup.channel = channel
        checkup.closes_at = protocol.non_response.missed_after.after_instant(at)
    else:
        _consume_followup(checkup, at)
    checkup.attempts = 0
    _release(checkup)
    _schedule_followup(checkup, protocol)


def _consume_followup(checkup: Checkup, at: datetime) -> None:
    """Mark the current follow-up (a reminder or the fallback) as done, whether it went out or not."""
    if checkup.action == Action.remind.value:
        checkup.reminders_sent += 1
    elif checkup.action == Action.fallback.value:
        checkup.fallback_at = at
    checkup.attempts = 0


def _schedule_followup(checkup: Checkup, protocol: Protocol) -> None:
    """Set the next non-response action: the earliest reminder or fallback not yet done, else closing."""
    assert checkup.sent_at is not None
    assert checkup.closes_at is not None
    rules = protocol.non_response
    events: list[tuple[datetime, str]] = [
        (delay.after_instant(checkup.sent_at), Action.remind.value)
        for delay in rules.remind_after[checkup.reminders_sent :]
    ][:1]
    if (
        rules.fallback_after is not None
        and checkup.fallback_at is None
        and protocol.channels.fallback is not None
        and protocol.channels.fallback.value != checkup.channel
    ):
        events.append((rules.fallback_after.after_instant(checkup.sent_at), Action.fallback.value))
    events = [e for e in events if e[0] < checkup.closes_at]
    events.append((checkup.closes_at, Action.close.value))
    at, action = min(events)
    checkup.action = action
    checkup.action_at = at


def _close_missed(ctx: Context, session: Session, checkup: Checkup, now: datetime) -> None:
    """The reply window closed. Partly answered counts as answered contact; no answer at all is a miss."""
    answered = has_answers(session, checkup.id)
    checkup.status = (CheckupStatus.answered if answered else CheckupStatus.missed).value
    checkup.action = checkup.action_at = None
    checkup.closed_at = now
    _release(checkup)
    enrolment = checkup.enrolment
    if answered:
        enrolment.missed_in_a_row = 0
    else:
        enrolment.missed_in_a_row += 1
        after_missed(ctx, session, enrolment, checkup, now)
    plan_next(ctx, session, enrolment, now)
