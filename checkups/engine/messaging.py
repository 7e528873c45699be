"""Messages outside the check-up cycle (a HELP answer, later crisis replies and clarifications), sent
exactly once with the same discipline as check-ups: an outbound row under a unique key is committed
before the request, and a retry looks the message up before sending again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..channels.base import ChannelError, Outgoing
from ..logging import get_logger
from ..models import MessageStatus, OutboundMessage, Participant, PhoneOptOut
from .context import Context

log = get_logger(__name__)


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
        # The person and whether their number opted out, in one statement.
        row = session.execute(
            select(Participant, PhoneOptOut.phone_hash)
            .outerjoin(PhoneOptOut, PhoneOptOut.phone_hash == Participant.phone_hash)
            .where(Participant.id == participant_id)
        ).first()
        if row is None:
            raise ValueError(f"no participant {participant_id}")
        participant, opted_out = row
        if not ignore_opt_out and opted_out is not None:
            return Delivery("opted_out")
        existing = session.scalars(select(OutboundMessage).where(OutboundMessage.key == key)).first()
        to = ctx.vault.decrypt(participant.phone_cipher)
        outgoing = Outgoing(
            key=key,
            participant_id=participant_id,
            to=to,
            body=body,
            kind=kind,
            channel=channel,
            timezone=participant.timezone,
        )
        if existing is not None and existing.status not in (MessageStatus.sending.value, MessageStatus.unknown.value):
            return Delivery("already", existing.id)
        if existing is None:
            existing = OutboundMessage(
                key=key,
                participant_id=participant_id,
                checkup_id=None,
                kind=kind,
                channel=channel,
                body_cipher=ctx.vault.encrypt(body),
                status=MessageStatus.sending.value,
                created_at=now,
                updated_at=now,
            )
            session.add(existing)
            try:
                session.flush()
            except IntegrityError:  # another worker is sending it right now
                return Delivery("already")
            first_attempt = True
        else:
            first_attempt = False
        message_id, created_at = existing.id, existing.created_at

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
    now = ctx.now()
    outcome: dict[str, object]
    if receipt is not None:
        outcome = {
            "status": MessageStatus.sent.value,
            "provider_sid": receipt.sid,
            "segments": receipt.segments,
            "sent_at": now,
        }
    else:
        assert error is not None
        status = MessageStatus.unknown.value if error.outcome_unknown else MessageStatus.failed.value
        outcome = {"status": status, "error_code": error.code}
    with factory() as session, session.begin():
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(updated_at=now, **outcome)
            .execution_options(synchronize_session=False)
        )
    if receipt is not None:
        return Delivery("sent", message_id)
    assert error is not None
    log.warning("reply not sent", participant_id=participant_id, kind=kind, code=error.code)
    return Delivery("unknown" if error.outcome_unknown else "failed", message_id)
