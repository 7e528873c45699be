"""The REST API for treatment services (``/api/v1``): enrol at discharge, list and read their own organisation's
participants, pause, resume, withdraw, and change a phone number or send window.

Bearer tokens act as their user: enrollers (and admins) change things, leads only read, volunteers get 403;
another organisation's participant is 404. Every read of a participant is audited (``via="api"``). Phone
numbers are never returned (only the last three digits) and never written to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..engine import audit
from ..engine import enrolment as enrolment_ops
from ..engine.csv_import import column_for, parse_time
from ..engine.errors import EnrolmentConflict, InvalidEnrolment, InvalidTransition, NotFound
from ..models import (
    OPEN_CHECKUP,
    Checkup,
    Enrolment,
    EnrolmentStatus,
    Flag,
    InboundMessage,
    Organisation,
    Participant,
    ProtocolVersion,
    User,
)
from ..phones import InvalidPhoneNumber, masked, normalise
from ..protocols.schema import Weekday
from ..runtime import Runtime
from .api import current_user, session_dep

READ_ROLES = frozenset({"enroller", "lead", "admin"})
WRITE_ROLES = frozenset({"enroller", "admin"})
PER_PAGE = 50
HHMM = r"^\d{1,2}:\d{2}$"


# --- the read model shared by these endpoints and the participant pages ----------------------------------------


@dataclass
class Overview:
    """One participant as staff see them: their latest enrolment, next check-up, last reply, open flag."""

    participant: Participant
    enrolment: Enrolment
    protocol_version: str
    checkup_status: str | None
    next_at: datetime | None  # when the open check-up goes out (scheduled) or went out (awaiting a reply)
    last_reply_at: datetime | None
    flag_id: int | None
    flag_severity: str | None
    flag_state: str | None
    flag_due_by: datetime | None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.participant.timezone)


def _overview_query() -> Select[Any]:
    latest = (
        select(Enrolment.participant_id, func.max(Enrolment.id).label("enrolment_id"))
        .group_by(Enrolment.participant_id)
        .subquery()
    )
    replies = (
        select(InboundMessage.participant_id, func.max(InboundMessage.received_at).label("at"))
        .where(InboundMessage.participant_id.is_not(None))
        .group_by(InboundMessage.participant_id)
        .subquery()
    )
    # At most one open check-up per enrolment and one unresolved flag per participant (unique indexes).
    open_checkup = (
        select(Checkup.enrolment_id, Checkup.status, Checkup.action_at, Checkup.due_at, Checkup.sent_at)
        .where(Checkup.status.in_(OPEN_CHECKUP))
        .subquery()
    )
    open_flag = (
        select(Flag.participant_id, Flag.id, Flag.severity, Flag.state, Flag.due_by)
        .where(Flag.state != "resolved")
        .subquery()
    )
    return (
        select(
            Participant,
            Enrolment,
            ProtocolVersion.version,
            open_checkup.c.status,
            open_checkup.c.action_at,
            open_checkup.c.due_at,
            open_checkup.c.sent_at,
            replies.c.at,
            open_flag.c.id,
            open_flag.c.severity,
            open_flag.c.state,
            open_flag.c.due_by,
        )
        .join(latest, latest.c.participant_id == Participant.id)
        .join(Enrolment, Enrolment.id == latest.c.enrolment_id)
        .join(ProtocolVersion, ProtocolVersion.id == Enrolment.protocol_version_id)
        .outerjoin(open_checkup, open_checkup.c.enrolment_id == Enrolment.id)
        .outerjoin(replies, replies.c.participant_id == Participant.id)
        .outerjoin(open_flag, open_flag.c.participant_id == Participant.id)
    )


def _overview(row: Any) -> Overview:
    (participant, enrolment, version, status, action_at, due_at, sent_at, reply_at, fid, severity, state, due_by) = row
    next_at = (sent_at or due_at) if status == "awaiting" else (action_at or due_at)
    return Overview(participant, enrolment, version, status, next_at, reply_at, fid, severity, state, due_by)


def _scoped(query: Select[Any], organisation_id: int | None) -> Select[Any]:
    return query if organisation_id is None else query.where(Participant.organisation_id == organisation_id)


def list_overviews(
    session: Session,
    organisation_id: int | None,
    status: str | None = None,
    ref: str | None = None,
    offset: int = 0,
    limit: int = PER_PAGE,
) -> tuple[list[Overview], int]:
    """A page of an organisation's participants (all organisations for ``None``), newest enrolment first."""
    query = _scoped(_overview_query(), organisation_id)
    if status:
        query = query.where(Enrolment.status == status)
    if ref:
        query = query.where(Participant.client_ref.startswith(ref, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Enrolment.id.desc()).offset(offset).limit(limit)).all()
    return [_overview(r) for r in rows], total


def find_overview(session: Session, participant_id: int, organisation_id: int | None) -> Overview | None:
    """One participant if ``organisation_id`` may see them (``None``: any organisation)."""
    row = session.execute(_scoped(_overview_query(), organisation_id).where(Participant.id == participant_id)).first()
    return _overview(row) if row is not None else None


def organisation_slug(session: Session, user: User, asked: str | None) -> str:
    """The organisation a new enrolment goes into: the user's own; an admin of all organisations names one.

    ValueError with the reason when the one asked for is not allowed.
    """
    if user.organisation_id is not None:
        own = session.get(Organisation, user.organisation_id)
        assert own is not None
        if asked and asked != own.slug:
            raise ValueError(f"you can only enrol into your own organisation ({own.slug})")
        return own.slug
    if not asked:
        raise ValueError("say which organisation (you are an admin of all of them)")
    if session.scalars(select(Organisation.id).where(Organisation.slug == asked)).first() is None:
        raise ValueError(f"unknown organisation {asked!r}")
    return asked


def local_iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value is not None else None


# --- bodies and answers -------------------------------------------------------------------------------------


Method = Literal["written", "verbal", "electronic"]
ChannelName = Literal["sms", "voice"]
OverdoseRisk = Literal["opioids", "detox", "residential", "prison", "opioid_treatment_stopped"]


class EnrolmentIn(BaseModel):
    """One person to enrol, as the enrolment form and the CSV columns have it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "client_ref": "A-1001",
                    "alias": "Sam",
                    "phone": "+447700900123",
                    "timezone": "Europe/London",
                    "protocol": "standard-5y",
                    "anchor_date": "2026-03-02",
                    "channel": "sms",
                    "window_start": "10:00",
                    "window_end": "19:00",
                    "window_days": ["mon", "tue", "wed", "thu", "fri"],
                    "consent_by": "J. Smith",
                    "consent_method": "written",
                    "consent_channels": ["sms", "voice"],
                    "overdose_risk": "opioids",
                }
            ]
        },
    )

    organisation: str | None = Field(
        default=None, max_length=64, description="Only for an admin of all organisations: the organisation's slug."
    )
    client_ref: str = Field(
        max_length=100, description="Your own reference for this client; unique in your organisation."
    )
    alias: str | None = Field(default=None, max_length=60, description="First name or alias that volunteers see.")
    phone: str = Field(max_length=40, description="Mobile number, E.164 (+447700900123) or national.")
    timezone: str = Field(max_length=64, description="IANA time zone where they live.", examples=["Europe/London"])
    language: str | None = Field(default=None, max_length=16, description="Default: the protocol's first language.")
    channel: ChannelName | None = Field(default=None, description="Default: the protocol's preferred channel.")
    window_start: str | None = Field(default=None, pattern=HHMM, description="HH:MM; default: the protocol's.")
    window_end: str | None = Field(default=None, pattern=HHMM, description="HH:MM (24:00 allowed).")
    window_days: list[Weekday] | None = Field(default=None, description="Default: the protocol's days.")
    protocol: str = Field(max_length=64, examples=["standard-5y"])
    anchor_date: date = Field(description="Discharge date: the schedule counts from it.")
    consent_by: str = Field(max_length=200, description="Who recorded the consent.")
    consent_method: Method
    consent_channels: list[ChannelName] = Field(min_length=1, description="What they agreed to be contacted by.")
    consent_at: AwareDatetime | None = Field(default=None, description="When consent was given; default: now.")
    overdose_risk: OverdoseRisk | None = None


class WindowOut(BaseModel):
    start: str = Field(examples=["10:00"])
    end: str = Field(examples=["19:00"])
    days: list[str] = Field(examples=[["mon", "tue", "wed", "thu", "fri"]])


class ConsentOut(BaseModel):
    by: str
    method: str
    channels: list[str]
    at: datetime


class EnrolmentOut(BaseModel):
    id: int
    status: EnrolmentStatus
    protocol: str
    protocol_version: str
    anchor_date: date
    channel: str
    window: WindowOut
    consent: ConsentOut
    overdose_risk: str | None
    created_at: datetime


class CheckupTime(BaseModel):
    state: Literal["scheduled", "awaiting_reply"]
    at: datetime = Field(description="UTC")
    local: str = Field(description="The same moment in the participant's own time zone (ISO 8601 with offset).")


class FlagSummary(BaseModel):
    id: int
    severity: str
    state: str
    due_by: datetime


class ParticipantOut(BaseModel):
    id: int
    client_ref: str
    alias: str | None
    timezone: str
    language: str
    phone_last_digits: str = Field(description="The number masked but for its last three digits.")
    enrolment: EnrolmentOut
    next_checkup: CheckupTime | None
    last_reply_at: datetime | None = Field(description="When they last replied (never what they said).")
    open_flag: FlagSummary | None


class EnrolledOut(BaseModel):
    created: bool = Field(description="False: this client was already enrolled exactly so; nothing changed.")
    participant: ParticipantOut


class ParticipantPage(BaseModel):
    items: list[ParticipantOut]
    page: int
    per_page: int
    total: int


class ConflictOut(BaseModel):
    detail: str = Field(examples=["client 'A-1001' is already enrolled (enrolment 7, active) with a different phone"])
    enrolment_id: int


class FieldError(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "phone"]])
    msg: str = Field(examples=["not a valid number for GB"])
    type: str = Field(examples=["value_error"])


class ValidationOut(BaseModel):
    detail: list[FieldError]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500, description="Why (no health details).")


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "moved away"}]})
    reason: str = Field(min_length=1, max_length=500, description="Why (no health details).")


class ParticipantPatch(BaseModel):
    """A new phone number and/or send window; what is left out stays as it is."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"phone": "+447700900456"}, {"window_start": "12:00", "window_end": "20:00"}]},
    )
    phone: str | None = Field(default=None, max_length=40)
    window_start: str | None = Field(default=None, pattern=HHMM)
    window_end: str | None = Field(default=None, pattern=HHMM)
    window_days: list[Weekday] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _something(self) -> ParticipantPatch:
        if self.phone is None and self.window_start is None and self.window_end is None and self.window_days is None:
            raise ValueError("give phone, window_start, window_end or window_days")
        return self


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token."},
    403: {"description": "Your role cannot do this."},
    404: {"description": "No such participant in your organisation."},
}


def participant_out(runtime: Runtime, overview: Overview) -> ParticipantOut:
    p, e, zone = overview.participant, overview.enrolment, overview.zone
    vault = runtime.ctx.vault
    next_checkup = None
    if overview.next_at is not None and overview.checkup_status is not None:
        next_checkup = CheckupTime(
            state="awaiting_reply" if overview.checkup_status == "awaiting" else "scheduled",
            at=overview.next_at,
            local=overview.next_at.astimezone(zone).isoformat(),
        )
    flag = None
    if overview.flag_id is not None:
        flag = FlagSummary(
            id=overview.flag_id,
            severity=overview.flag_severity or "",
            state=overview.flag_state or "",
            due_by=overview.flag_due_by,  # type: ignore[arg-type]
        )
    return ParticipantOut(
        id=p.id,
        client_ref=p.client_ref,
        alias=vault.decrypt(p.alias_cipher) if p.alias_cipher else None,
        timezone=p.timezone,
        language=p.language,
        phone_last_digits=masked(vault.decrypt(p.phone_cipher)),
        enrolment=EnrolmentOut(
            id=e.id,
            status=EnrolmentStatus(e.status),
            protocol=e.protocol_name,
            protocol_version=overview.protocol_version,
            anchor_date=e.anchor_date,
            channel=e.channel,
            window=WindowOut(
                start=e.window_start.strftime("%H:%M") if e.window_start != time.max else "24:00",
                end=e.window_end.strftime("%H:%M") if e.window_end != time.max else "24:00",
                days=e.window_days.split(","),
            ),
            consent=ConsentOut(
                by=e.consent_by, method=e.consent_method, channels=e.consent_channels.split(","), at=e.consent_at
            ),
            overdose_risk=e.overdose_risk,
            created_at=e.created_at,
        ),
        next_checkup=next_checkup,
        last_reply_at=overview.last_reply_at,
        open_flag=flag,
    )


def field_errors(errors: dict[str, str]) -> list[dict[str, Any]]:
    """Engine errors in the shape of FastAPI's own 422 answers: where (``loc``) and why (``msg``)."""
    return [
        {"loc": ["body", column_for(key) or key], "msg": message, "type": "value_error"}
        for key, message in errors.items()
    ]


def _unprocessable(errors: dict[str, str]) -> JSONResponse:
    return JSONResponse({"detail": field_errors(errors)}, status_code=422)


def _times(body: EnrolmentIn | ParticipantPatch) -> tuple[time | None, time | None, dict[str, str]]:
    errors: dict[str, str] = {}
    parsed: dict[str, time | None] = {}
    for name in ("window_start", "window_end"):
        value = getattr(body, name)
        parsed[name] = None
        if value is not None:
            try:
                parsed[name] = parse_time(value)
            except ValueError as error:
                errors[name] = str(error)
    return parsed["window_start"], parsed["window_end"], errors


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def reader(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role not in READ_ROLES:
        raise HTTPException(403, f"the {user.role} role cannot see enrolments")
    return user


def writer(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role not in WRITE_ROLES:
        raise HTTPException(403, f"the {user.role} role cannot change enrolments")
    return user


# Module level: the routes' string annotations (``from __future__ import annotations``) resolve here.
Reader = Annotated[User, Depends(reader)]
Writer = Annotated[User, Depends(writer)]
Db = Annotated[Session, Depends(session_dep)]


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["enrolment"], responses=ERRORS)

    def own(session: Session, participant_id: int, user: User) -> Overview:
        found = find_overview(session, participant_id, user.organisation_id)
        if found is None:
            raise HTTPException(404, "no such participant")
        return found

    def fresh(request: Request, participant_id: int) -> ParticipantOut:
        rt = runtime(request)
        with rt.factory() as session:
            found = find_overview(session, participant_id, None)
            assert found is not None
            return participant_out(rt, found)

    @api.post(
        "/enrolments",
        status_code=201,
        responses={
            200: {"model": EnrolledOut, "description": "Already enrolled exactly so: nothing changed."},
            409: {"model": ConflictOut, "description": "This client is enrolled differently; the reason says how."},
            422: {"model": ValidationOut, "description": "Fields that are wrong: where (loc) and why (msg)."},
        },
    )
    def create_enrolment(
        body: EnrolmentIn,
        request: Request,
        response: Response,
        session: Db,
        user: Writer,
    ) -> EnrolledOut:
        """Enrol one person at discharge: 201 with their first check-up; the same request again is 200."""
        start, end, errors = _times(body)
        try:
            organisation = organisation_slug(session, user, body.organisation)
        except ValueError as error:
            errors["organisation"] = str(error)
            organisation = ""
        if errors:
            return _unprocessable(errors)  # type: ignore[return-value]
        enrol_request = enrolment_ops.EnrolmentRequest(
            organisation=organisation,
            client_ref=body.client_ref,
            phone=body.phone,
            timezone=body.timezone,
            anchor_date=body.anchor_date,
            protocol=body.protocol,
            consent_by=body.consent_by,
            consent_method=body.consent_method,
            consent_channels=tuple(body.consent_channels),
            consent_at=body.consent_at,
            language=body.language,
            channel=body.channel,
            window_start=start,
            window_end=end,
            window_days=tuple(d.value for d in body.window_days) if body.window_days else None,
            overdose_risk=body.overdose_risk,
            alias=body.alias,
        )
        session.commit()  # the engine writes in its own transaction (SQLite has one writer at a time)
        rt = runtime(request)
        try:
            result = enrolment_ops.enrol(rt.ctx, rt.factory, enrol_request, actor=f"user:{user.id}")
        except InvalidEnrolment as error:
            return _unprocessable(error.errors)  # type: ignore[return-value]
        except EnrolmentConflict as error:
            return JSONResponse({"detail": error.reason, "enrolment_id": error.enrolment_id}, status_code=409)  # type: ignore[return-value]
        if not result.created:
            response.status_code = 200
        return EnrolledOut(created=result.created, participant=fresh(request, result.enrolment.participant_id))

    @api.get("/participants")
    def list_participants(
        request: Request,
        session: Db,
        user: Reader,
        status: EnrolmentStatus | None = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = PER_PAGE,
    ) -> ParticipantPage:
        """Your organisation's participants, newest enrolment first, a page at a time."""
        rt = runtime(request)
        items, total = list_overviews(
            session, user.organisation_id, status.value if status else None, None, (page - 1) * per_page, per_page
        )
        audit.record(
            session,
            rt.ctx.now(),
            f"user:{user.id}",
            "participants.listed",
            "organisation",
            user.organisation_id,
            via="api",
            shown=len(items),
        )
        return ParticipantPage(items=[participant_out(rt, o) for o in items], page=page, per_page=per_page, total=total)

    @api.get("/participants/{participant_id}")
    def show_participant(
        participant_id: int,
        request: Request,
        session: Db,
        user: Reader,
    ) -> ParticipantOut:
        """One participant: their enrolment, next check-up (also in their local time), last reply, open flag."""
        found = own(session, participant_id, user)
        rt = runtime(request)
        audit.record(
            session, rt.ctx.now(), f"user:{user.id}", "participant.viewed", "participant", participant_id, via="api"
        )
        return participant_out(rt, found)

    def transition(request: Request, session: Session, user: User, participant_id: int, change: Any) -> ParticipantOut:
        found = own(session, participant_id, user)
        session.commit()
        rt = runtime(request)
        try:
            change(rt, found.enrolment.id, f"user:{user.id}")
        except (InvalidTransition, NotFound) as error:
            raise HTTPException(409, str(error)) from None
        return fresh(request, participant_id)

    @api.post("/participants/{participant_id}/pause", responses={409: {"description": "Not active."}})
    def pause(
        participant_id: int,
        request: Request,
        session: Db,
        user: Writer,
        body: Annotated[ReasonIn | None, Body()] = None,
    ) -> ParticipantOut:
        """Stop sending check-ups until resumed (the open one is cancelled)."""
        reason = body.reason if body else None
        return transition(
            request,
            session,
            user,
            participant_id,
            lambda rt, eid, actor: enrolment_ops.pause(rt.ctx, rt.factory, eid, actor, reason or None),
        )

    @api.post("/participants/{participant_id}/resume", responses={409: {"description": "Not paused."}})
    def resume(
        participant_id: int,
        request: Request,
        session: Db,
        user: Writer,
    ) -> ParticipantOut:
        """Continue from where the protocol now is; check-ups that fell due while paused are not sent."""
        return transition(
            request,
            session,
            user,
            participant_id,
            lambda rt, eid, actor: enrolment_ops.resume(rt.ctx, rt.factory, eid, actor),
        )

    @api.post("/participants/{participant_id}/withdraw", responses={409: {"description": "Already ended."}})
    def withdraw(
        participant_id: int,
        body: WithdrawIn,
        request: Request,
        session: Db,
        user: Writer,
    ) -> ParticipantOut:
        """End the enrolment for good, with the reason."""
        return transition(
            request,
            session,
            user,
            participant_id,
            lambda rt, eid, actor: enrolment_ops.withdraw(rt.ctx, rt.factory, eid, actor, body.reason.strip()),
        )

    @api.patch(
        "/participants/{participant_id}",
        responses={
            409: {"description": "The enrolment has ended: its window cannot change."},
            422: {"model": ValidationOut, "description": "Fields that are wrong: where (loc) and why (msg)."},
        },
    )
    def change(
        participant_id: int,
        body: ParticipantPatch,
        request: Request,
        session: Db,
        user: Writer,
    ) -> ParticipantOut:
        """Change the phone number and/or the send window (in the participant's own time zone).

        Everything is checked before anything changes: a bad window leaves the phone as it was, and so on.
        """
        found = own(session, participant_id, user)
        start, end, errors = _times(body)
        days = tuple(d.value for d in body.window_days) if body.window_days else None
        window_change = start is not None or end is not None or days is not None
        if body.phone is not None:
            try:
                normalise(body.phone, runtime(request).ctx.default_region)
            except InvalidPhoneNumber as error:
                errors["phone"] = str(error)
        if window_change and not errors:
            e = found.enrolment
            try:
                enrolment_ops.send_window(
                    start or e.window_start, end or e.window_end, days or e.window_days.split(",")
                )
            except InvalidEnrolment as error:
                errors.update(error.errors)
        if errors:
            return _unprocessable(errors)  # type: ignore[return-value]
        if window_change and found.enrolment.status not in enrolment_ops.RUNNING:
            raise HTTPException(409, f"the enrolment is {found.enrolment.status}; its window no longer matters")
        session.commit()
        rt = runtime(request)
        actor = f"user:{user.id}"
        try:
            if body.phone is not None:
                enrolment_ops.change_phone(rt.ctx, rt.factory, participant_id, body.phone, actor)
            if window_change:
                enrolment_ops.change_window(rt.ctx, rt.factory, found.enrolment.id, actor, start, end, days)
        except InvalidEnrolment as error:
            return _unprocessable(error.errors)  # type: ignore[return-value]
        except InvalidTransition as error:
            raise HTTPException(409, str(error)) from None
        return fresh(request, participant_id)

    return api
