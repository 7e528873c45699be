"""The admins' pages: the audit trail (read only: it is append-only, and no page edits or deletes it), the
list of staff accounts (accounts are created with ``checkups users add``), and the messages from numbers that
match no single participant (they belong to no organisation, so only admins, who are global, read them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from ...engine import audit
from ...engine.inbound import UNMATCHED_LIMIT, Unmatched, participants_with_numbers, unmatched_since
from ...models import AuditEvent, Enrolment, Flag, Organisation, User
from ...phones import masked
from ..api import session_dep
from ..security import requires
from ..templating import render

PAGE_SIZE = 50
UNMATCHED_DAYS = 30

AdminUser = Annotated[User, Depends(requires())]  # no role named: admins only
Db = Annotated[Session, Depends(session_dep)]


@dataclass(frozen=True)
class Row:
    event: AuditEvent
    who: str  # the user's email for "user:N", else the actor as recorded
    detail: list[tuple[str, str]]


@dataclass(frozen=True)
class UnmatchedRow:
    message: Unmatched
    number: str  # masked: the last digits only
    known_as: str  # whose number it is now, in words


def _known_as(count: int, parked: bool) -> str:
    if count == 0:
        return "No participant has this number."
    if count == 1:
        # Unmatched when it arrived, so the number was enrolled or changed since; a parked one may be theirs.
        return (
            "One participant has this number."
            if parked
            else "One participant has this number now (enrolled or changed since it arrived)."
        )
    return f"{count} participants share this number: it could not be matched to one of them."


def _user_id(actor: str) -> int | None:
    kind, _, ident = actor.partition(":")
    return int(ident) if kind == "user" and ident.isdigit() else None


def _actor_filter(session: Session, text: str) -> Any:
    """An email finds the user's actions (and failed sign-ins as that email); anything else is matched as
    recorded ("user:12", "system", "cli", "participant")."""
    text = text.strip()
    if "@" in text:
        email = text.lower()
        user_id = session.scalar(select(User.id).where(User.email == email))
        actors = [f"email:{email}"] + ([f"user:{user_id}"] if user_id is not None else [])
        return AuditEvent.actor.in_(actors)
    return AuditEvent.actor == text


def _participant_filter(participant_id: int) -> Any:
    """Events about a participant: on them, on their enrolments and flags, or naming them in the detail."""
    return or_(
        and_(AuditEvent.subject_type == "participant", AuditEvent.subject_id == participant_id),
        and_(
            AuditEvent.subject_type == "enrolment",
            AuditEvent.subject_id.in_(select(Enrolment.id).where(Enrolment.participant_id == participant_id)),
        ),
        and_(
            AuditEvent.subject_type == "flag",
            AuditEvent.subject_id.in_(select(Flag.id).where(Flag.participant_id == participant_id)),
        ),
        AuditEvent.detail["participant_id"].as_integer() == participant_id,
    )


def _detail(detail: dict[str, Any] | None) -> list[tuple[str, str]]:
    return [(str(k), "—" if v is None else str(v)) for k, v in sorted((detail or {}).items())]


def _page(
    query: Select[Any], session: Session, before: int | None, after: int | None
) -> tuple[list[AuditEvent], bool, bool]:
    """One page, newest first, by keyset on the id (fast at any depth of an ever-growing table)."""
    if after is not None:
        rows = list(session.scalars(query.where(AuditEvent.id > after).order_by(AuditEvent.id).limit(PAGE_SIZE + 1)))
        has_newer = len(rows) > PAGE_SIZE
        rows = list(reversed(rows[:PAGE_SIZE]))
        return rows, has_newer, True
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], before is not None, len(rows) > PAGE_SIZE


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/audit", response_class=HTMLResponse)
    def audit_trail(
        request: Request,
        user: AdminUser,
        session: Db,
        actor: Annotated[str | None, Query(max_length=254)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
        participant: Annotated[str | None, Query(max_length=20)] = None,
        before: Annotated[int | None, Query(ge=1)] = None,
        after: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        errors: dict[str, str] = {}
        query = select(AuditEvent)
        if actor and actor.strip():
            query = query.where(_actor_filter(session, actor))
        if action and action.strip():
            name = action.strip()
            # "flag" or "flag." finds every flag action; "flag.claimed" just that one.
            prefix = name.rstrip(".") + "."
            query = query.where(or_(AuditEvent.action == name, AuditEvent.action.startswith(prefix, autoescape=True)))
        if participant and participant.strip():
            if participant.strip().isdigit():
                query = query.where(_participant_filter(int(participant.strip())))
            else:
                errors["participant"] = "A participant is found by their number (the id shown on their page)."
        events, has_newer, has_older = _page(query, session, before, after)

        ids = {uid for e in events if (uid := _user_id(e.actor)) is not None}
        emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
        rows = []
        for event in events:
            uid = _user_id(event.actor)
            who = emails.get(uid, event.actor) if uid is not None else event.actor
            rows.append(Row(event, who, _detail(event.detail)))

        kept = {k: v for k, v in {"actor": actor, "action": action, "participant": participant}.items() if v}
        newer = urlencode({**kept, "after": events[0].id}) if events and has_newer else None
        older = urlencode({**kept, "before": events[-1].id}) if events and has_older else None
        return render(
            request,
            "admin/audit.html",
            rows=rows,
            values={"actor": actor or "", "action": action or "", "participant": participant or ""},
            errors=errors,
            newer=newer,
            older=older,
            first_page=urlencode(kept),
            filtered=bool(kept),
        )

    @pages.get("/users", response_class=HTMLResponse)
    def accounts(request: Request, user: AdminUser, session: Db) -> Response:
        rows = session.execute(
            select(User, Organisation.name)
            .outerjoin(Organisation, Organisation.id == User.organisation_id)
            .order_by(Organisation.name.is_(None).desc(), Organisation.name, User.role, User.email)
        ).all()
        return render(request, "admin/users.html", rows=rows)

    @pages.get("/inbound/unmatched", response_class=HTMLResponse)
    def unmatched(request: Request, user: AdminUser, session: Db) -> Response:
        ctx = request.app.state.runtime.ctx
        now = ctx.now()
        found = unmatched_since(ctx, session, now - timedelta(days=UNMATCHED_DAYS))
        counts = participants_with_numbers(session, {m.from_hash for m in found.messages})
        rows = [
            UnmatchedRow(m, masked(ctx.vault.decrypt(m.from_cipher)), _known_as(counts.get(m.from_hash, 0), m.parked))
            for m in found.messages
        ]
        # Strangers' words, some about self-harm: who read which, and when, is kept like any participant view
        # (the messages' ids and counts: no number and no text in the trail).
        audit.record(
            session,
            now,
            f"user:{user.id}",
            "inbound.unmatched_viewed",
            "inbound",
            None,
            via="web",
            days=UNMATCHED_DAYS,
            shown=len(rows),
            with_crisis_words=found.with_crisis_words,
            inbound_ids=[row.message.inbound_id for row in rows],
        )
        return render(
            request,
            "admin/unmatched.html",
            rows=rows,
            days=UNMATCHED_DAYS,
            more=found.more,
            read_limit=UNMATCHED_LIMIT,
            crisis_count=found.with_crisis_words,
        )

    return pages


__all__ = ["router"]
