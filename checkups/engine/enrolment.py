"""Enrol people at discharge, and pause, resume, withdraw, complete, opt out and opt in again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..models import (
    OPEN_CHECKUP,
    Action,
    ActionState,
    Checkup,
    CheckupStatus,
    Enrolment,
    EnrolmentStatus,
    Organisation,
    Participant,
    PhoneOptOut,
)
from ..phones import InvalidPhoneNumber, normalise
from ..protocols.loader import UnknownProtocol
from ..protocols.schedule import DueDate, UnknownTimeZone, next_window_opening, place, spread_offset, zone
from ..protocols.schema import SendWindow
from . import audit
from .context import Context
from .errors import EnrolmentConflict, InvalidEnrolment, InvalidTransition, NotFound
from .planner import STEP_UP_SEQ, enrolment_window, plan_next, planned_checkups

OVERDOSE_RISKS = ("opioids", "detox", "residential", "prison", "opioid_treatment_stopped")
CONSENT_METHODS = ("written", "verbal", "electronic")
CHANNELS = ("sms", "voice")
RUNNING = (EnrolmentStatus.active.value, EnrolmentStatus.paused.value)


@dataclass(frozen=True)
class EnrolmentRequest:
    """What a treatment service gives at discharge. Strings as typed; the engine validates them."""

    organisation: str  # slug
    client_ref: str
    phone: str
    timezone: str
    anchor_date: date
    protocol: str
    consent_by: str
    consent_method: str
    consent_channels: tuple[str, ...] = ("sms",)
    consent_at: datetime | None = None  # default: now
    language: str | None = None  # default: the protocol's first
    channel: str | None = None  # default: the protocol's preferred
    window_start: time | None = None  # default: the protocol's window
    window_end: time | None = None
    window_days: tuple[str, ...] | None = None
    overdose_risk: str | None = None
    alias: str | None = None


@dataclass
class EnrolResult:
    enrolment: Enrolment
    created: bool
    first_checkup: Checkup | None = None
    notes: list[str] = field(default_factory=list)


def ensure_organisation(session: Session, slug: str, name: str | None, now: datetime) -> Organisation:
    org = session.scalars(select(Organisation).where(Organisation.slug == slug)).first()
    if org is None:
        org = Organisation(slug=slug, name=name or slug, created_at=now)
        session.add(org)
        session.flush()
    return org


def _validate(ctx: Context, session: Session, request: EnrolmentRequest) -> tuple[dict[str, object], dict[str, str]]:
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}
    org = session.scalars(select(Organisation).where(Organisation.slug == request.organisation)).first()
    if org is None:
        errors["organisation"] = f"unknown organisation {request.organisation!r}"
    clean["organisation"] = org
    ref = (request.client_ref or "").strip()
    if not ref or len(ref) > 100 or any(c in ref for c in "\r\n\t"):
        errors["client_ref"] = "required, at most 100 characters, on one line"
    clean["client_ref"] = ref
    try:
        clean["phone"] = normalise(request.phone, ctx.default_region)
    except InvalidPhoneNumber as error:
        errors["phone"] = str(error)
    try:
        zone(request.timezone)
        clean["timezone"] = request.timezone
    except UnknownTimeZone as error:
        errors["timezone"] = str(error)
    protocol = None
    try:
        protocol = ctx.protocols.current(request.protocol)
    except UnknownProtocol as error:
        errors["protocol"] = str(error.args[0])
    clean["protocol"] = protocol
    if protocol is not None:
        language = request.language or protocol.default_language
        if language not in protocol.languages:
            errors["language"] = f"{language!r} is not a language of {protocol.name} ({', '.join(protocol.languages)})"
        clean["language"] = language
        channel = request.channel or protocol.channels.preferred.value
        if channel not in CHANNELS:
            errors["channel"] = "must be sms or voice"
        clean["channel"] = channel
        base = protocol.send_window
        try:
            clean["window"] = SendWindow.model_validate(
                {
                    "start": request.window_start or base.start,
                    "end": request.window_end or base.end,
                    "days": list(request.window_days) if request.window_days else list(base.days),
                }
            )
        except ValueError as error:
            errors["window"] = _first_message(error)
    now = ctx.now()
    if request.anchor_date > now.date() + timedelta(days=366):
        errors["anchor_date"] = "is more than a year ahead; the anchor is the discharge date"
    if request.anchor_date.year < 2000:
        errors["anchor_date"] = "is before 2000"
    if not (request.consent_by or "").strip():
        errors["consent_by"] = "say who recorded the consent"
    if request.consent_method not in CONSENT_METHODS:
        errors["consent_method"] = f"must be one of {', '.join(CONSENT_METHODS)}"
    channels = tuple(dict.fromkeys(request.consent_channels))
    if not channels or any(c not in CHANNELS for c in channels):
        errors["consent_channels"] = "list sms and/or voice"
    elif "channel" in clean and clean["channel"] not in channels:
        errors["channel"] = f"consent does not cover {clean['channel']} (consented: {', '.join(channels)})"
    clean["consent_channels"] = channels
    consent_at = request.consent_at or now
    if consent_at.tzinfo is None:
        errors["consent_at"] = "needs a time zone"
    elif consent_at > now + timedelta(days=1):
        errors["consent_at"] = "is in the future"
    clean["consent_at"] = consent_at
    if request.overdose_risk is not None and request.overdose_risk not in OVERDOSE_RISKS:
        errors["overdose_risk"] = f"must be one of {', '.join(OVERDOSE_RISKS)}"
    if request.alias is not None and len(request.alias) > 60:
        errors["alias"] = "at most 60 characters"
    return clean, errors


def _first_message(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(error)


def enrol(ctx: Context, factory: sessionmaker[Session], request: EnrolmentRequest, actor: str) -> EnrolResult:
    """Enrol one person; idempotent on organisation + client reference.

    The same request again returns the existing enrolment (``created`` False); a different one for the
    same client reference is refused with :class:`EnrolmentConflict` saying what differs.
    """
    for attempt in range(2):
        try:
            with factory() as session, session.begin():
                return _enrol(ctx, session, request, actor)
        except IntegrityError:
            # Two enrolments of the same client raced; the other one won. Read it on the second pass.
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def _enrol(ctx: Context, session: Session, request: EnrolmentRequest, actor: str) -> EnrolResult:
    now = ctx.now()
    clean, errors = _validate(ctx, session, request)
    if errors:
        raise InvalidEnrolment(errors)
    org = clean["organisation"]
    phone = str(clean["phone"])
    phone_hash = ctx.vault.lookup_hash(phone)
    window: SendWindow = clean["window"]  # type: ignore[assignment]
    protocol = clean["protocol"]

    participant, existing = _existing(session, org.id, str(clean["client_ref"]))  # type: ignore[attr-defined]
    if participant is not None and existing is not None:
        differences = _differences(existing, participant, request, clean, phone_hash, protocol.name)  # type: ignore[union-attr]
        if differences:
            raise EnrolmentConflict(existing.id, _conflict(str(clean["client_ref"]), existing, differences))
        return EnrolResult(existing, created=False)

    if session.get(PhoneOptOut, phone_hash) is not None:
        raise InvalidEnrolment({"phone": "this number has opted out (STOP); they can text START to opt in again"})

    version = ctx.protocols.ensure_version(session, protocol, now)  # type: ignore[arg-type]
    if participant is None:
        participant = Participant(
            organisation_id=org.id,  # type: ignore[attr-defined]
            client_ref=clean["client_ref"],
            phone_cipher=ctx.vault.encrypt(phone),
            phone_hash=phone_hash,
            alias_cipher=ctx.vault.encrypt(request.alias) if request.alias else None,
            timezone=str(clean["timezone"]),
            language=str(clean["language"]),
            created_at=now,
        )
        session.add(participant)
        session.flush()
    enrolment = Enrolment(
        participant_id=participant.id,
        protocol_version_id=version.id,
        protocol_name=protocol.name,  # type: ignore[union-attr]
        anchor_date=request.anchor_date,
        status=EnrolmentStatus.active.value,
        channel=str(clean["channel"]),
        window_start=window.start,
        window_end=window.end,
        window_days=",".join(d.value for d in window.days),
        consent_by=request.consent_by.strip(),
        consent_at=clean["consent_at"],
        consent_method=request.consent_method,
        consent_channels=",".join(clean["consent_channels"]),  # type: ignore[arg-type]
        overdose_risk=request.overdose_risk,
        missed_in_a_row=0,
        last_seq=0,
        created_at=now,
        updated_at=now,
    )
    enrolment.participant = participant
    session.add(enrolment)
    session.flush()
    first = plan_next(ctx, session, enrolment, now)
    audit.record(
        session,
        now,
        actor,
        "enrolment.created",
        "enrolment",
        enrolment.id,
        participant_id=participant.id,
        protocol=protocol.name,
        version=version.version,
    )  # type: ignore[union-attr]
    return EnrolResult(enrolment, created=True, first_checkup=first)


def _existing(session: Session, organisation_id: int, client_ref: str) -> tuple[Participant | None, Enrolment | None]:
    """The participant an organisation knows by ``client_ref``, and their latest enrolment."""
    participant = session.scalars(
        select(Participant).where(Participant.organisation_id == organisation_id, Participant.client_ref == client_ref)
    ).first()
    if participant is None:
        return None, None
    latest = session.scalars(
        select(Enrolment).where(Enrolment.participant_id == participant.id).order_by(Enrolment.id.desc())
    ).first()
    return participant, latest


def _conflict(client_ref: str, existing: Enrolment, differences: list[str]) -> str:
    return (
        f"client {client_ref!r} is already enrolled (enrolment {existing.id}, {existing.status}) with a different "
        f"{', '.join(differences)}; change it on the existing enrolment, or use a new client reference for a new "
        "episode"
    )


def _differences(
    existing: Enrolment,
    participant: Participant,
    request: EnrolmentRequest,
    clean: dict[str, object],
    phone_hash: str,
    protocol_name: str,
) -> list[str]:
    differences = []
    if existing.protocol_name != protocol_name:
        differences.append("protocol")
    if existing.anchor_date != request.anchor_date:
        differences.append("anchor date")
    if participant.phone_hash != phone_hash:
        differences.append("phone")
    if participant.timezone != clean["timezone"]:
        differences.append("time zone")
    return differences


# --- changes of state -------------------------------------------------------------------------------------


def _load(session: Session, enrolment_id: int) -> Enrolment:
    enrolment = session.get(Enrolment, enrolment_id, with_for_update=True)
    if enrolment is None:
        raise NotFound(f"no enrolment {enrolment_id}")
    return enrolment


def cancel_open_checkups(session: Session, enrolment_id: int, now: datetime, why: str) -> int:
    """Stop every open check-up of the enrolment at once, claimed ones included.

    A worker holding a claim finds the check-up no longer pending and sends nothing.
    """
    result = session.execute(
        update(Checkup)
        .where(Checkup.enrolment_id == enrolment_id, Checkup.status.in_(OPEN_CHECKUP))
        .values(**Checkup.closing(CheckupStatus.cancelled, now, note=why))
    )
    return result.rowcount or 0


def _transition(
    ctx: Context,
    factory: sessionmaker[Session],
    enrolment_id: int,
    actor: str,
    allowed_from: tuple[str, ...],
    to: str,
    action: str,
    reason: str | None = None,
) -> Enrolment:
    with factory() as session, session.begin():
        now = ctx.now()
        enrolment = _load(session, enrolment_id)
        if enrolment.status not in allowed_from:
            raise InvalidTransition(f"enrolment {enrolment_id} is {enrolment.status}; cannot {action}")
        enrolment.status = to
        enrolment.updated_at = now
        cancelled = cancel_open_checkups(session, enrolment.id, now, f"enrolment {to}")
        audit.record(
            session,
            now,
            actor,
            f"enrolment.{action}",
            "enrolment",
            enrolment.id,
            cancelled_checkups=cancelled,
            reason=reason,
        )
        return enrolment


def pause(
    ctx: Context, factory: sessionmaker[Session], enrolment_id: int, actor: str, reason: str | None = None
) -> Enrolment:
    return _transition(
        ctx,
        factory,
        enrolment_id,
        actor,
        (EnrolmentStatus.active.value,),
        EnrolmentStatus.paused.value,
        "paused",
        reason,
    )


def withdraw(
    ctx: Context, factory: sessionmaker[Session], enrolment_id: int, actor: str, reason: str | None = None
) -> Enrolment:
    return _transition(ctx, factory, enrolment_id, actor, RUNNING, EnrolmentStatus.withdrawn.value, "withdrawn", reason)


def complete(
    ctx: Context, factory: sessionmaker[Session], enrolment_id: int, actor: str, reason: str | None = None
) -> Enrolment:
    return _transition(ctx, factory, enrolment_id, actor, RUNNING, EnrolmentStatus.completed.value, "completed", reason)


def resume(ctx: Context, factory: sessionmaker[Session], enrolment_id: int, actor: str) -> Enrolment:
    """Continue from where the protocol now is: the check-ups that fell due while paused are not sent."""
    with factory() as session, session.begin():
        now = ctx.now()
        enrolment = _load(session, enrolment_id)
        if enrolment.status != EnrolmentStatus.paused.value:
            raise InvalidTransition(f"enrolment {enrolment_id} is {enrolment.status}; only a paused one resumes")
        if session.get(PhoneOptOut, enrolment.participant.phone_hash) is not None:
            raise InvalidTransition("this number has opted out; it must opt in again (START) first")
        enrolment.status = EnrolmentStatus.active.value
        enrolment.updated_at = now
        plan_next(ctx, session, enrolment, now)
        audit.record(session, now, actor, "enrolment.resumed", "enrolment", enrolment.id)
        return enrolment


def opt_out(ctx: Context, session: Session, phone_hash: str, source: str, actor: str) -> list[int]:
    """Stop everything to this number, for every enrolment of every organisation, at once.

    Returns the ids of the enrolments stopped. The caller holds the transaction.
    """
    now = ctx.now()
    if session.get(PhoneOptOut, phone_hash) is None:
        session.add(PhoneOptOut(phone_hash=phone_hash, opted_out_at=now, source=source))
    stopped = []
    enrolments = session.scalars(
        select(Enrolment)
        .join(Participant)
        .where(Participant.phone_hash == phone_hash, Enrolment.status.in_(RUNNING))
        .with_for_update(of=Enrolment)
    ).all()
    for enrolment in enrolments:
        enrolment.status = EnrolmentStatus.opted_out.value
        enrolment.updated_at = now
        cancel_open_checkups(session, enrolment.id, now, "opted out")
        audit.record(session, now, actor, "enrolment.opted_out", "enrolment", enrolment.id, source=source)
        stopped.append(enrolment.id)
    return stopped


def opt_in(ctx: Context, session: Session, phone_hash: str, actor: str) -> list[int]:
    """The number may be messaged again (START): enrolments stopped by its opt-out resume from now."""
    now = ctx.now()
    row = session.get(PhoneOptOut, phone_hash)
    if row is not None:
        session.delete(row)
        session.flush()
    resumed = []
    enrolments = session.scalars(
        select(Enrolment)
        .join(Participant)
        .where(Participant.phone_hash == phone_hash, Enrolment.status == EnrolmentStatus.opted_out.value)
    ).all()
    for enrolment in enrolments:
        running = session.scalars(
            select(Enrolment.id).where(
                Enrolment.participant_id == enrolment.participant_id, Enrolment.status.in_(RUNNING)
            )
        ).first()
        if running is not None:
            continue
        enrolment.status = EnrolmentStatus.active.value
        enrolment.updated_at = now
        plan_next(ctx, session, enrolment, now)
        audit.record(session, now, actor, "enrolment.opted_in", "enrolment", enrolment.id)
        resumed.append(enrolment.id)
    return resumed


def is_opted_out(session: Session, phone_hash: str) -> bool:
    return session.get(PhoneOptOut, phone_hash) is not None


# --- checking without storing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """What :func:`enrol` would do with a request, worked out without storing anything.

    ``outcome`` is ``new``, ``already_enrolled`` (the same request again: nothing would change),
    ``conflict`` (the client reference is enrolled differently; ``reason`` says how) or ``invalid``
    (``errors`` per field, as :class:`InvalidEnrolment` gives them).
    """

    outcome: str
    errors: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    enrolment_id: int | None = None

    @property
    def good(self) -> bool:
        return self.outcome in ("new", "already_enrolled")


def assess(ctx: Context, session: Session, request: EnrolmentRequest) -> Assessment:
    """Validate ``request`` as :func:`enrol` does (every field at once) and say what enrolling it would do.

    Only reads: a preview of a CSV file runs this for every row before anything is saved.
    """
    clean, errors = _validate(ctx, session, request)
    if errors:
        return Assessment("invalid", errors)
    org = clean["organisation"]
    phone_hash = ctx.vault.lookup_hash(str(clean["phone"]))
    participant, existing = _existing(session, org.id, str(clean["client_ref"]))  # type: ignore[attr-defined]
    if participant is not None and existing is not None:
        differences = _differences(existing, participant, request, clean, phone_hash, clean["protocol"].name)  # type: ignore[union-attr]
        if differences:
            reason = _conflict(str(clean["client_ref"]), existing, differences)
            return Assessment("conflict", reason=reason, enrolment_id=existing.id)
        return Assessment("already_enrolled", enrolment_id=existing.id)
    if session.get(PhoneOptOut, phone_hash) is not None:
        return Assessment("invalid", {"phone": "this number has opted out (STOP); they can text START to opt in again"})
    return Assessment("new")


# --- changes of phone and send window ------------------------------------------------------------------------


def change_phone(
    ctx: Context, factory: sessionmaker[Session], participant_id: int, phone: str, actor: str
) -> Participant:
    """Give the participant a new number (validated as at enrolment). The number never enters the audit trail.

    A number that has opted out (STOP) is refused: it must opt in again first. The enrolment's state is
    kept; an opted-out enrolment stays opted out.
    """
    try:
        e164 = normalise(phone, ctx.default_region)
    except InvalidPhoneNumber as error:
        raise InvalidEnrolment({"phone": str(error)}) from None
    with factory() as session, session.begin():
        now = ctx.now()
        participant = session.get(Participant, participant_id, with_for_update=True)
        if participant is None:
            raise NotFound(f"no participant {participant_id}")
        phone_hash = ctx.vault.lookup_hash(e164)
        if phone_hash == participant.phone_hash:
            return participant
        if session.get(PhoneOptOut, phone_hash) is not None:
            raise InvalidEnrolment({"phone": "this number has opted out (STOP); they can text START to opt in again"})
        participant.phone_cipher = ctx.vault.encrypt(e164)
        participant.phone_hash = phone_hash
        audit.record(session, now, actor, "participant.phone_changed", "participant", participant.id)
        return participant


def change_window(
    ctx: Context,
    factory: sessionmaker[Session],
    enrolment_id: int,
    actor: str,
    start: time | None = None,
    end: time | None = None,
    days: tuple[str, ...] | None = None,
) -> Enrolment:
    """Change when messages may be sent (in the participant's own zone); ``None`` keeps that part as it is.

    The next check-up, if not sent yet, moves into the new window at once; anything already under way
    (sent, or being sent) keeps its time, and dispatch defers its follow-ups to the new window anyway.
    """
    with factory() as session, session.begin():
        now = ctx.now()
        enrolment = _load(session, enrolment_id)
        if enrolment.status not in RUNNING:
            raise InvalidTransition(f"enrolment {enrolment_id} is {enrolment.status}; its window no longer matters")
        window = send_window(
            start or enrolment.window_start, end or enrolment.window_end, days or enrolment.window_days.split(",")
        )
        old = enrolment_window(enrolment)
        if window == old:
            return enrolment
        enrolment.window_start = window.start
        enrolment.window_end = window.end
        enrolment.window_days = ",".join(d.value for d in window.days)
        enrolment.updated_at = now
        moved = _replace_next(ctx, session, enrolment, window, now)
        audit.record(
            session,
            now,
            actor,
            "enrolment.window_changed",
            "enrolment",
            enrolment.id,
            before=_window_json(old),
            after=_window_json(window),
            moved_checkup=moved,
        )
        return enrolment


def send_window(start: time, end: time, days: Iterable[str]) -> SendWindow:
    """A send window from its parts; :class:`InvalidEnrolment` (field ``window``) saying what is wrong."""
    try:
        return SendWindow.model_validate({"start": start, "end": end, "days": list(days)})
    except ValueError as error:
        raise InvalidEnrolment({"window": _first_message(error)}) from None


def _window_json(window: SendWindow) -> dict[str, object]:
    return {
        "start": window.start.strftime("%H:%M"),
        "end": window.end.strftime("%H:%M"),
        "days": [d.value for d in window.days],
    }


def _replace_next(
    ctx: Context, session: Session, enrolment: Enrolment, window: SendWindow, now: datetime
) -> int | None:
    """Move the enrolment's unsent next check-up into ``window``; its id, or None if there was none to move."""
    checkup = session.scalars(
        select(Checkup).where(
            Checkup.enrolment_id == enrolment.id,
            Checkup.status == CheckupStatus.pending.value,
            Checkup.action == Action.send.value,
            Checkup.action_state == ActionState.ready.value,
            Checkup.sent_at.is_(None),
        )
    ).first()
    if checkup is None:
        return None
    tz = zone(enrolment.participant.timezone)
    target = None
    if checkup.seq < STEP_UP_SEQ:
        # The protocol's own placement of this check-up under the new window.
        target = next(
            (
                p.utc
                for p in planned_checkups(ctx, session, enrolment)
                if p.seq == checkup.seq and p.phase == checkup.phase
            ),
            None,
        )
    if target is None:
        offset = spread_offset(f"participant:{enrolment.participant_id}", window)
        day = checkup.due_at.astimezone(tz).date()
        target = place([DueDate(checkup.phase, day)], tz, window, offset)[0].utc
    if target < now:
        target = next_window_opening(now, tz, window)
    checkup.due_at = target
    checkup.action_at = target
    session.flush()
    return checkup.id
