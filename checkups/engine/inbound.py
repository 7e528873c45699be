"""Inbound messages: stored first (unique provider id), then processed; STOP, START and HELP work at any
point. A message from a number we cannot match to exactly one person is kept, visible to staff, and never
matched to the wrong person; it is scanned for crisis words all the same. From a number several participants
share, crisis words flag each of them (someone must call, whoever wrote) and get the crisis reply once; from a
number nobody has, nothing is sent back (no consent on record) and an error is logged for the admins' page."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ..logging import get_logger
from ..models import (
    Checkup,
    CheckupStatus,
    Enrolment,
    EnrolmentStatus,
    InboundMessage,
    MessageKind,
    Participant,
)
from ..phones import InvalidPhoneNumber, normalise
from . import enrolment as enrolment_ops
from .context import Context
from .conversation import Reply, crisis_response, handle_reply, latest_enrolment
from .messaging import deliver
from .replies import crisis_words_of, scan_crisis

log = get_logger(__name__)

STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
START_WORDS = frozenset({"start", "unstop"})
HELP_WORDS = frozenset({"help"})
RUNNING = (EnrolmentStatus.active.value, EnrolmentStatus.paused.value)


def keyword(body: str) -> str | None:
    """'stop', 'start' or 'help' when the whole message is one of those words (any case, spaces, a full stop)."""
    word = re.sub(r"[\s.!]+$", "", body.strip()).lower()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


@dataclass(frozen=True)
class Stored:
    inbound_id: int
    created: bool


# Built once per dialect: building an INSERT ... ON CONFLICT costs more than running it on SQLite.
# On the table, not the ORM class: an ORM insert goes through its bulk-insert machinery (a third of the cost),
# and nothing in the session needs flushing first (inbound rows are never ORM objects while being stored).
_STORE = {
    name: insert(InboundMessage.__table__)
    .on_conflict_do_nothing(index_elements=["provider_sid"])
    .returning(InboundMessage.__table__.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def store_inbound(
    ctx: Context, session: Session, provider_sid: str, from_number: str, body: str, channel: str = "sms"
) -> Stored:
    """Save an inbound message before anything else; a replay (same provider id) changes nothing."""
    try:
        sender = normalise(from_number, ctx.default_region)
    except InvalidPhoneNumber:
        sender = from_number.strip()  # kept as sent (a short code, a withheld id): never matched to anyone
    now = ctx.now()
    row = session.execute(
        _STORE[session.get_bind().dialect.name],
        {
            "provider_sid": provider_sid,
            "participant_id": None,
            "from_hash": ctx.vault.lookup_hash(sender),
            "from_cipher": ctx.vault.encrypt(sender),
            "body_cipher": ctx.vault.encrypt(body),
            "channel": channel,
            "received_at": now,
            "state": "received",
            "attempts": 0,
        },
    ).first()
    if row is not None:
        return Stored(row[0], created=True)
    existing = session.execute(_BY_SID, {"provider_sid": provider_sid}).scalar_one()
    return Stored(existing, created=False)


_inbound = InboundMessage.__table__
_BY_SID = select(_inbound.c.id).where(_inbound.c.provider_sid == bindparam("provider_sid"))


MAX_ATTEMPTS = 5


def unprocessed(session: Session, now: datetime, older_than: timedelta, limit: int = 200) -> list[int]:
    """Inbound messages still not processed after ``older_than`` (a lost task, a crash): to retry.

    One that has failed ``MAX_ATTEMPTS`` times is parked: kept, listed for admins with the unmatched ones
    (:func:`unmatched_since`), not retried, and logged as an error for whoever watches the logs.
    """
    parked = (
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.state == "received", InboundMessage.attempts >= MAX_ATTEMPTS)
            .values(state="parked", error="processing failed repeatedly")
            .returning(InboundMessage.id)
        )
        .scalars()
        .all()
    )
    if parked:
        # No flag, no reply and no answer came of these: a person must read them (/inbound/unmatched).
        log.error("inbound parked after repeated failures", inbound_ids=sorted(parked))
    return list(
        session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.state == "received", InboundMessage.received_at < now - older_than)
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


def match_participant(session: Session, from_hash: str) -> int | None:
    """The one person this number belongs to, or None if there is none or more than one could be meant.

    Among several participants with the number (enrolled by different services), the one with a check-up
    awaiting a reply is meant; otherwise the one with a running enrolment; otherwise nobody.
    """
    participant = _match(session, from_hash)
    return participant.id if participant is not None else None


# Built once: building a statement costs more than running it on SQLite.
_BY_PHONE = select(Participant).where(Participant.phone_hash == bindparam("from_hash"))


def _match(session: Session, from_hash: str) -> Participant | None:
    # The whole row, not only its id: the caller keeps it, so the reply handling that follows finds the
    # participant in the session instead of loading it again.
    found = {p.id: p for p in session.scalars(_BY_PHONE, {"from_hash": from_hash})}
    if len(found) <= 1:
        return next(iter(found.values()), None)
    candidates = list(found)
    awaiting = session.scalars(
        select(Enrolment.participant_id)
        .join(Checkup, Checkup.enrolment_id == Enrolment.id)
        .where(Enrolment.participant_id.in_(candidates), Checkup.status == CheckupStatus.awaiting.value)
    ).all()
    if len(set(awaiting)) == 1:
        return found[awaiting[0]]
    running = session.scalars(
        select(Enrolment.participant_id).where(Enrolment.participant_id.in_(candidates), Enrolment.status.in_(RUNNING))
    ).all()
    return found[running[0]] if len(set(running)) == 1 else None


# The inbound row is read and written with plain statements on the table (no ORM object): nothing else in
# the transaction touches it, and it is locked (FOR UPDATE on PostgreSQL) before anything else is done.
_LOCK_INBOUND = (
    select(_inbound.c.state, _inbound.c.attempts, _inbound.c.from_hash, _inbound.c.body_cipher)
    .where(_inbound.c.id == bindparam("inbound_id"))
    .with_for_update()
)
_PROCESSED = (
    update(_inbound)
    .where(_inbound.c.id == bindparam("inbound_id"))
    .values(
        attempts=bindparam("attempts"),
        participant_id=bindparam("participant_id"),
        state=bindparam("state"),
        processed_at=bindparam("processed_at"),
    )
)


_FAILED = (
    update(_inbound)
    .where(_inbound.c.id == bindparam("inbound_id"), _inbound.c.state == "received")
    .values(attempts=_inbound.c.attempts + 1, error=bindparam("failure"))
)


def process_inbound(ctx: Context, factory: sessionmaker[Session], inbound_id: int) -> str:
    """Act on a stored inbound message once: opt out, opt in, help, or a reply to a check-up."""
    help_for: int | None = None
    replies: list[Reply] = []
    reply_to: int | None = None
    crisis_words: list[str] = []
    flagged: list[int] = []
    try:
        with factory() as session, session.begin():
            inbound = session.execute(_LOCK_INBOUND, {"inbound_id": inbound_id}).first()
            if inbound is None or inbound.state != "received":
                return "done"
            body = ctx.vault.decrypt(inbound.body_cipher)
            participant = _match(session, inbound.from_hash)
            participant_id = participant.id if participant is not None else None
            word = keyword(body)
            if word == "stop":
                # Our own consent record is the one that counts: every enrolment of this number stops now.
                enrolment_ops.opt_out(ctx, session, inbound.from_hash, "sms-stop", actor="participant")
                outcome = "opted_out"
            elif word == "start":
                enrolment_ops.opt_in(ctx, session, inbound.from_hash, actor="participant")
                outcome = "opted_in"
            elif word == "help":
                help_for = participant_id
                outcome = "help"
            elif participant_id is None:
                # Kept for staff; but a person in crisis may write from a new phone, or from a number two
                # participants share, so the words are looked for as in any reply.
                outcome = "unmatched"
                crisis_words = unmatched_crisis(ctx, body)
                if crisis_words:
                    flagged, replies = _crisis_from_a_shared_number(ctx, session, inbound.from_hash, inbound_id)
                    reply_to = flagged[0] if flagged else None
            else:
                handled = handle_reply(ctx, session, participant_id, inbound_id, body)
                outcome, replies, reply_to = handled.outcome, handled.replies, participant_id
            # Written last, once (the row was locked when it was read).
            session.execute(
                _PROCESSED,
                {
                    "inbound_id": inbound_id,
                    "attempts": inbound.attempts + 1,
                    "participant_id": participant_id,
                    "state": "processed",
                    "processed_at": ctx.now(),
                },
            )
    except Exception as error:
        # The attempt counts although its transaction rolled back: after MAX_ATTEMPTS failures the tick
        # parks the message (kept, shown to staff) instead of retrying it every minute for ever.
        try:
            with factory() as session, session.begin():
                session.execute(_FAILED, {"inbound_id": inbound_id, "failure": type(error).__name__})
        except Exception:  # the store is down too: the tick retries it later all the same
            log.exception("could not count a failed attempt", inbound_id=inbound_id)
        raise
    log.info("inbound processed", inbound_id=inbound_id, participant_id=participant_id, outcome=outcome)
    if crisis_words and not flagged:
        # Only the id (never the words found: they are the message's own text); staff read it on the
        # unmatched messages page, where the view is audited. An error, not a warning: from a number nobody
        # has, no flag and no deadline come of it, so whoever alerts on the logs must hear.
        log.error("unmatched inbound with crisis words", inbound_id=inbound_id)
    if help_for is not None:
        _send_help(ctx, factory, inbound_id, help_for)
    for reply in replies:  # after the commit: the answers and flags are safe whatever the provider does
        deliver(ctx, factory, reply.key, reply_to, reply.kind, reply.text)  # type: ignore[arg-type]
    return outcome


_SHARERS = select(Participant.id).where(Participant.phone_hash == bindparam("from_hash")).order_by(Participant.id)
_RUNNING_SHARERS = (
    select(Enrolment.participant_id)
    .join(Participant, Participant.id == Enrolment.participant_id)
    .where(Participant.phone_hash == bindparam("from_hash"), Enrolment.status.in_(RUNNING))
    .distinct()
    .order_by(Enrolment.participant_id)
)


def _crisis_from_a_shared_number(
    ctx: Context, session: Session, from_hash: str, inbound_id: int
) -> tuple[list[int], list[Reply]]:
    """Crisis words from a number several participants have, and none could be picked: each of them still in
    the programme gets an urgent flag in their own service's queue (whoever wrote, someone must call now),
    or every one of them when none is (after STOP, say), and the number gets the crisis reply once, in the
    first one's words. (the participants flagged, the reply to send)"""
    now = ctx.now()
    sharers = list(session.scalars(_RUNNING_SHARERS, {"from_hash": from_hash})) or list(
        session.scalars(_SHARERS, {"from_hash": from_hash})
    )
    replies: list[Reply] = []
    flagged: list[int] = []
    for participant_id in sharers:
        enrolment = latest_enrolment(session, participant_id)
        if enrolment is None:
            continue
        protocol = ctx.protocols.by_version_id(session, enrolment.protocol_version_id)
        language = enrolment.participant.language
        reply = crisis_response(session, participant_id, protocol, language, inbound_id, now, _SHARED, shared=True)
        flagged.append(participant_id)
        replies = replies or [reply]  # the number gets it once: it is the same phone
    return flagged, replies


# Not how many share the number, nor where: that would tell this service of another's participant.
_SHARED = (
    "Crisis words in a message from this participant's number, which someone else also has: it may not be "
    "theirs, but someone must call now"
)


def _send_help(ctx: Context, factory: sessionmaker[Session], inbound_id: int, participant_id: int) -> None:
    with factory() as session:
        enrolment = session.scalars(
            select(Enrolment).where(Enrolment.participant_id == participant_id).order_by(Enrolment.id.desc())
        ).first()
        if enrolment is None:
            return
        protocol = ctx.protocols.by_version_id(session, enrolment.protocol_version_id)
        language = enrolment.participant.language
    text = protocol.text(protocol.messages.help, language)
    # HELP is answered even after STOP: carriers require it, and it says how to start again.
    deliver(
        ctx, factory, f"inbound:{inbound_id}:help", participant_id, MessageKind.help.value, text, ignore_opt_out=True
    )


# --- messages from numbers that match no single participant ---------------------------------------------


def crisis_words_in_use(ctx: Context) -> tuple[str, ...]:
    """The crisis words of every protocol in the folder, as one list.

    A message we cannot match belongs to no enrolment, so to no protocol of its own: any service's words may
    be the ones its writer used.
    """
    return crisis_words_of(protocol.crisis.words for protocol in ctx.protocols.catalog)


def unmatched_crisis(ctx: Context, body: str) -> list[str]:
    """The crisis words in a message from a number we cannot match (none in STOP, START or HELP)."""
    if keyword(body) is not None:
        return []
    return scan_crisis(body, crisis_words_in_use(ctx))


UNMATCHED_LIMIT = 500  # messages read per listing: a busy week of wrong numbers must not stall a page


@dataclass(frozen=True)
class Unmatched:
    """A message no flag queue shows: from a number that matched no single participant when it arrived, or
    one whose processing failed again and again (parked: nothing came of it, not even a STOP)."""

    inbound_id: int
    received_at: datetime
    channel: str
    from_hash: str
    from_cipher: bytes  # decrypted only where it is shown, and shown masked
    body: str
    crisis_words: tuple[str, ...]
    parked: bool = False


@dataclass(frozen=True)
class UnmatchedMessages:
    messages: list[Unmatched]  # those with crisis words first, each part newest first
    more: bool  # more arrived in the period than were read: only the newest ``limit`` are here

    @property
    def with_crisis_words(self) -> int:
        return sum(1 for m in self.messages if m.crisis_words)


# Built once: building a statement costs more than running it on SQLite.
_UNMATCHED = (
    select(
        _inbound.c.id,
        _inbound.c.received_at,
        _inbound.c.channel,
        _inbound.c.from_hash,
        _inbound.c.from_cipher,
        _inbound.c.body_cipher,
        _inbound.c.state,
    )
    .where(
        # Parked ones whatever their age: nothing came of them, and nothing but a person reading them will.
        or_(
            and_(
                _inbound.c.participant_id.is_(None),
                _inbound.c.state == "processed",
                _inbound.c.received_at >= bindparam("since"),
            ),
            _inbound.c.state == "parked",
        ),
    )
    .order_by(_inbound.c.received_at.desc(), _inbound.c.id.desc())
    .limit(bindparam("limit"))
)


def unmatched_since(ctx: Context, session: Session, since: datetime, limit: int = UNMATCHED_LIMIT) -> UnmatchedMessages:
    """Messages received since ``since`` from numbers that matched no single participant, and parked ones
    (whenever they arrived).

    Scanned for crisis words here, with the protocols' words of today, rather than stored when processed: a
    word added to a protocol finds the messages already kept, and no column holds a verdict on a stranger's
    text. STOP, START and HELP are left out when they were acted on for the number, whoever owns it; a
    parked one was not, so it is listed.
    """
    rows = session.execute(_UNMATCHED, {"since": since, "limit": limit + 1}).all()
    words = crisis_words_in_use(ctx)
    found = []
    for row in rows[:limit]:
        body = ctx.vault.decrypt(row.body_cipher)
        parked = row.state == "parked"
        if keyword(body) is not None and not parked:
            continue
        found.append(
            Unmatched(
                row.id,
                row.received_at,
                row.channel,
                row.from_hash,
                row.from_cipher,
                body,
                tuple(scan_crisis(body, words)),
                parked,
            )
        )
    found.sort(key=lambda m: not m.crisis_words)  # stable: newest first within each part
    return UnmatchedMessages(found, more=len(rows) > limit)


def participants_with_numbers(session: Session, from_hashes: Iterable[str]) -> dict[str, int]:
    """How many participants have each number now (a number absent from the result: none)."""
    hashes = set(from_hashes)
    if not hashes:
        return {}
    rows = session.execute(
        select(Participant.phone_hash, func.count())
        .where(Participant.phone_hash.in_(hashes))
        .group_by(Participant.phone_hash)
    )
    return {phone_hash: count for phone_hash, count in rows}
