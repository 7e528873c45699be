"""The REST API (``/api/v1``), bearer-token authenticated. A token acts as its user: their role decides what
they may do, and they only ever see their own organisation (another organisation's records are 404).
Every view of a participant is audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ..db import READ_ONLY
from ..engine import audit
from ..engine import flags as flag_ops
from ..engine.timeline import timeline
from ..engine.users import user_for_token
from ..models import AttemptResult, Flag, FlagOutcome, Participant, User
from ..runtime import Runtime

bearer = HTTPBearer(auto_error=False)
FLAG_ROLES = {"volunteer", "lead", "admin"}


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def session_dep(request: Request) -> Iterator[Session]:
    with _runtime(request).factory() as session, session.begin():
        yield session


@contextmanager
def reading(request: Request) -> Iterator[Session]:
    """A read-only session for long reports: on SQLite it reads a snapshot without taking the write lock, so
    a dashboard does not hold up the scheduler and the webhooks. End the request's own transaction first."""
    with Session(_runtime(request).engine.execution_options(**{READ_ONLY: True})) as session, session.begin():
        yield session


def current_user(
    request: Request,
    session: Annotated[Session, Depends(session_dep)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    user = user_for_token(session, credentials.credentials, _runtime(request).ctx.now())
    if user is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return user


def flag_worker(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role not in FLAG_ROLES:
        raise HTTPException(403, f"the {user.role} role cannot work the flag queue")
    return user


def _own_flag(session: Session, flag_id: int, user: User) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None or (user.organisation_id is not None and flag.organisation_id != user.organisation_id):
        raise HTTPException(404, "no such flag")
    return flag


def _flag_json(flag: Flag) -> dict[str, Any]:
    return {
        "id": flag.id,
        "participant_id": flag.participant_id,
        "severity": flag.severity,
        "state": flag.state,
        "due_by": flag.due_by.isoformat(),
        "escalated": flag.escalated_at is not None,
        "reasons": [{"reason": r["reason"], "severity": r["severity"], "at": r["at"]} for r in flag.reasons],
        "claimed_by": flag.claimed_by,
        "outcome": flag.outcome,
    }


class AttemptIn(BaseModel):
    result: AttemptResult
    notes: str | None = Field(default=None, max_length=4000)


class ResolveIn(BaseModel):
    outcome: FlagOutcome
    notes: str | None = Field(default=None, max_length=4000)


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["flags"])

    @api.get("/flags")
    def list_flags(
        session: Annotated[Session, Depends(session_dep)],
        user: Annotated[User, Depends(flag_worker)],
        severity: str | None = None,
    ) -> list[dict[str, Any]]:
        """Unresolved flags of your organisation, most severe first, then by deadline."""
        return [_flag_json(f) for f in flag_ops.queue(session, user.organisation_id, severity)]

    @api.get("/flags/{flag_id}")
    def show_flag(
        flag_id: int,
        request: Request,
        session: Annotated[Session, Depends(session_dep)],
        user: Annotated[User, Depends(flag_worker)],
    ) -> dict[str, Any]:
        """A flag; the participant's number only for whoever claimed it."""
        flag = _own_flag(session, flag_id, user)
        participant = session.get(Participant, flag.participant_id)
        assert participant is not None
        ctx = _runtime(request).ctx
        shown = flag.claimed_by == user.id
        audit.record(
            session,
            ctx.now(),
            f"user:{user.id}",
            "participant.viewed",
            "participant",
            participant.id,
            flag_id=flag_id,
            phone_shown=shown,
            via="api",
        )
        return {**_flag_json(flag), "phone": ctx.vault.decrypt(participant.phone_cipher) if shown else None}

    def _change(session: Session, flag_id: int, user: User, request: Request, apply: Any) -> dict[str, Any]:
        _own_flag(session, flag_id, user)
        try:
            apply(_runtime(request).ctx.now())
        except flag_ops.FlagError as error:
            raise HTTPException(409, str(error)) from None
        flag = session.get(Flag, flag_id, populate_existing=True)
        assert flag is not None
        return _flag_json(flag)

    @api.post("/flags/{flag_id}/claim")
    def claim_flag(
        flag_id: int,
        request: Request,
        session: Annotated[Session, Depends(session_dep)],
        user: Annotated[User, Depends(flag_worker)],
    ) -> dict[str, Any]:
        return _change(session, flag_id, user, request, lambda now: flag_ops.claim(session, flag_id, user.id, now))

    @api.post("/flags/{flag_id}/release")
    def release_flag(
        flag_id: int,
        request: Request,
        session: Annotated[Session, Depends(session_dep)],
        user: Annotated[User, Depends(flag_worker)],
    ) -> dict[str, Any]:
        return _change(session, flag_id, user, request, lambda now: flag_ops.release(session, flag_id, user.id, now))

    @api.post("/flags/{flag_id}/attempts")
    def log_attempt(
        flag_id: int,
        body: AttemptIn,
        request: Request,
        session: Annotated[Session, Depends(session_dep)],
        user: Annotated[User, Depends(flag_worker)],
    ) -> dict[str, Any]:
        return _change(
            session,
            flag_id,
            user,
            request,
            lambda now: flag_ops.log_attempt(session, flag_id, user.id, body.result.value, body.notes, now),
        )

    @api.post("/flags/{flag_id}/resolve")
    def resolve_flag(
        flag_id: int,
        body: ResolveIn,
        request: Request,
        session: Annotated[Session, Depends(session_dep)],
        user: Annotated[User, Depends(flag_worker)],
    ) -> dict[str, Any]:
        return _change(
            session,
            flag_id,
            user,
            request,
            lambda now: flag_ops.resolve(session, flag_id, user.id, body.outcome.value, body.notes, now),
        )

    @api.get("/participants/{participant_id}/timeline")
    def participant_timeline(
        participant_id: int,
        request: Request,
        session: Annotated[Session, Depends(session_dep)],
        user: Annotated[User, Depends(flag_worker)],
    ) -> dict[str, Any]:
        """Check-ups, answers, messages, flags and outcomes of one participant, newest first."""
        participant = session.get(Participant, participant_id)
        if participant is None or (
            user.organisation_id is not None and participant.organisation_id != user.organisation_id
        ):
            raise HTTPException(404, "no such participant")
        ctx = _runtime(request).ctx
        audit.record(
            session,
            ctx.now(),
            f"user:{user.id}",
            "participant.viewed",
            "participant",
            participant_id,
            via="api",
            what="timeline",
        )
        return {
            "participant_id": participant_id,
            "client_ref": participant.client_ref,
            "events": [e.as_json() for e in timeline(ctx, session, participant_id)],
        }

    return api
