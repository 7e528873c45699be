"""Delivery status from the provider: a message's status only ever moves forward."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..logging import get_logger
from ..models import Action, ActionState, Checkup, CheckupStatus, MessageStatus, OutboundMessage, Participant
from . import enrolment as enrolment_ops
from .context import Context
from .flags import OPTED_OUT_CODE, UNUSABLE_NUMBER_CODES, flag_unusable_number

log = get_logger(__name__)

# Twilio's message and call statuses, mapped to ours with a rank: only a higher rank replaces a lower one.
_MAP = {
    "accepted": (MessageStatus.sent, 1),
    "queued": (MessageStatus.sent, 1),
    "sending": (MessageStatus.sent, 1),
    "sent": (MessageStatus.sent, 1),
    "scheduled": (MessageStatus.sent, 1),
    "initiated": (MessageStatus.sent, 1),
    "ringing": (MessageStatus.sent, 1),
    "in-progress": (MessageStatus.sent, 2),
    "delivered": (MessageStatus.delivered, 3),
    "read": (MessageStatus.delivered, 3),
    "completed": (MessageStatus.delivered, 3),
    "undelivered": (MessageStatus.undelivered, 4),
    "failed": (MessageStatus.failed, 4),
    "busy": (MessageStatus.undelivered, 4),
    "no-answer": (MessageStatus.undelivered, 4),
    "canceled": (MessageStatus.failed, 4),
}
_RANK = {
    MessageStatus.sending.value: 0,
    MessageStatus.unknown.value: 0,
    MessageStatus.sent.value: 1,
    MessageStatus.delivered.value: 3,
    MessageStatus.undelivered.value: 4,
    MessageStatus.failed.value: 4,
}


NO_CONTACT_CALL = frozenset({"busy", "no-answer", "failed", "canceled"})


def _follow_up_now(ctx: Context, session: Session, checkup_id: int) -> None:
    """A call nobody answered: the next follow-up (a reminder, the fallback) need not wait its full delay.

    It still goes out only inside the person's window: the dispatcher defers it otherwise.
    """
    checkup = session.get(Checkup, checkup_id, with_for_update=True)
    if (
        checkup is not None
        and checkup.status == CheckupStatus.awaiting.value
        and checkup.action in (Action.remind.value, Action.fallback.value)
        and checkup.action_state == ActionState.ready.value
        and checkup.action_at is not None
        and checkup.action_at > ctx.now()
    ):
        checkup.action_at = ctx.now()


def record_status(ctx: Context, factory: sessionmaker[Session], sid: str, status: str, error_code: str | None) -> str:
    """Apply a status callback; unknown SIDs and stale statuses are ignored (and answered 200 by the caller)."""
    mapped = _MAP.get(status.lower())
    if mapped is None:
        return "ignored"
    new_status, rank = mapped
    with factory() as session, session.begin():
        message = session.scalars(
            select(OutboundMessage).where(OutboundMessage.provider_sid == sid).with_for_update()
        ).first()
        if message is None:
            return "unknown_sid"
        if rank <= _RANK.get(message.status, 0) and not (rank == 2 and message.status == MessageStatus.sent.value):
            return "stale"
        message.status = new_status.value
        message.updated_at = ctx.now()
        if error_code:
            message.error_code = error_code
        if error_code == OPTED_OUT_CODE:
            participant = session.get(Participant, message.participant_id)
            if participant is not None:
                enrolment_ops.opt_out(ctx, session, participant.phone_hash, "carrier-21610", actor="twilio")
        elif error_code in UNUSABLE_NUMBER_CODES:
            flag_unusable_number(session, message.participant_id, error_code, ctx.now())
        if message.channel == "voice" and status.lower() in NO_CONTACT_CALL and message.checkup_id is not None:
            _follow_up_now(ctx, session, message.checkup_id)
        log.info("status", message_id=message.id, status=new_status.value, code=error_code)
        return "updated"
