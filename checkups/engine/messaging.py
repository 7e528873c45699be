"""Messages outside the check-up cycle (a HELP answer, later crisis replies and clarifications), sent
exactly once with the same discipline as check-ups: an outbound row under a unique key is committed
before the request, and a retry looks the message up before sending again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ..channels.base import ChannelError, Outgoing, Receipt
from ..logging import get_logger
from ..models import MessageStatus, OutboundMessage, Participant, PhoneOptOut
from .context import Context

log = get_logger(__name__)

# Statements built once, on the tables (plain Core: no ORM loading, no autoflush; the sessions here hold
# nothing unflushed): building a statement costs more than running it on SQLite.
_participants = Participant.__table__
_opt_outs = PhoneOptOut.__table__
_outbound = OutboundMessage.__table__
# The person and whether their number opted out, in one statement.
_RECIPIENT = (
    select(_participants.c.phone_cipher, _participants.c.timezone, _opt_outs.c.phone_hash)
    .select_from(_participants.outerjoin(_opt_outs, _opt_outs.c.phone_hash == _participants.c.phone_hash))
    .where(_participants.c.id == bindparam("participant_id"))
)
_EXISTING = select(_outbound.c.id, _outbound.c.status, _outbound.c.created_at).where(
    _outbound.c.key == bindparam("key")
)
# ON CONFLICT (key) DO NOTHING: another worker sending under the same key right now means "already".
_CREATE = {
    name: insert(_outbound).on_conflict_do_nothing(index_elements=["key"]).returning(_outbound.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


@lru_cache(maxsize=16)
def outcome_update(columns: tuple[str, ...]) -> Update:
    """UPDATE outbound_messages SET <columns> WHERE id = :message_id, built once per set of columns."""
    return (
        update(_outbound)
        .where(_outbound.c.id == bindparam("message_id"))
        .values({column: bindparam(column) for column in columns})
    )


def new_message(
    ctx: Context,
    key: str,
    participant_id: int,
    checkup_id: int | None,
    kind: str,
    channel: str,
    body: str,
    now: datetime,
) -> dict[str, object]:
    """The row of an outbound message about to be sent: stored (status ``sending``) before the provider call."""
    return {
        "key": key,
        "participant_id": participant_id,
        "checkup_id": checkup_id,
        "kind": kind,
        "channel": channel,
        "body_cipher": ctx.vault.encrypt(body),
        "status": MessageStatus.sending.value,
        "created_at": now,
        "updated_at": now,
    }


def provider_outcome(receipt: Receipt | None, error: ChannelError | None, now: datetime) -> dict[str, object]:
    """What to write on the message after the provider call: sent (with its id and segments), unknown (the
    request may have reached the provider: looked up before any resend) or failed."""
    if receipt is not None:
        return {
            "status": MessageStatus.sent.value,
            "provider_sid": receipt.sid,
            "segments": receipt.segments,
            "sent_at": now,
            "updated_at": now,
        }
    if error is not None and error.outcome_unknown:
        return {"status": MessageStatus.unknown.value, "error_code": error.code, "updated_at": now}
    return {"status": MessageStatus.failed.value, "error_code": error.code if error else None, "updated_at": now}


def record_outcome(session: Session, message_id: int, values: dict[str, object]) -> None:
    """Write what the provider said about one outbound message (one UPDATE, nothing loaded)."""
    session.execute(outcome_update(tuple(values)), {"message_id": message_id, **values})


@dataclass(frozen=True)
class Delivery:
    status: str  # sent, already, failed, unknown, opted_out
    message_id: int | None = None


def deliver(
    ctx: Context,
    factory: sessionmaker[Session],
    key: str,
    participant_id: int,
    kind: str,
    body: str,
    channel: str = "sms",
    ignore_opt_out: bool = False,
) -> Delivery:
    """Send ``body`` to a participant once under ``key``; calling again with the same key sends nothing new."""
    with factory() as session, session.begin():
        now = ctx.now()
        row = session.execute(_RECIPIENT, {"participant_id": participant_id}).first()
        if row is None:
            raise ValueError(f"no participant {participant_id}")
        phone_cipher, timezone, opted_out = row
        if not ignore_opt_out and opted_out is not None:
            return Delivery("opted_out")
        existing = session.execute(_EXISTING, {"key": key}).first()
        to = ctx.vault.decrypt(phone_cipher)
        outgoing = Outgoing(
            key=key,
            participant_id=participant_id,
            to=to,
            body=body,
            kind=kind,
            channel=channel,
            timezone=timezone,
        )
        if existing is not None and existing.status not in (MessageStatus.sending.value, MessageStatus.unknown.value):
            return Delivery("already", existing.id)
        if existing is None:
            created = session.execute(
                _CREATE[session.get_bind().dialect.name],
                new_message(ctx, key, participant_id, None, kind, channel, body, now),
            ).first()
            if created is None:  # another worker is sending it right now
                return Delivery("already")
            message_id, created_at = created[0], now
            first_attempt = True
        else:
            message_id, created_at = existing.id, existing.created_at
            first_attempt = False

    provider = ctx.channel(channel)
    receipt = None if first_attempt else provider.lookup(outgoing, created_at)
    error: ChannelError | None = None
    if receipt is None:
        try:
            receipt = provider.send(outgoing)
        except ChannelError as caught:
            error = caught
        except Exception as caught:
            error = ChannelError(type(caught).__name__, outcome_unknown=True)
    outcome = provider_outcome(receipt, error, ctx.now())
    with factory() as session, session.begin():
        record_outcome(session, message_id, outcome)
    if receipt is not None:
        return Delivery("sent", message_id)
    assert error is not None
    log.warning("reply not sent", participant_id=participant_id, kind=kind, code=error.code)
    return Delivery("unknown" if error.outcome_unknown else "failed", message_id)
