"""The volunteers' pages: the flag queue (``/queue``) and one flag's page (``/flags/{id}``) with what a
re-engagement call needs: why, recent answers, the history, a call script, and the number once claimed.

A volunteer sees only what a call needs: a first name or alias, the flag and the history; never the
service's client reference or consent details, and the number only while they hold the claim. Every view
of a flag page is audited (``participant.viewed`` with ``phone_shown``); every change is audited by the
engine's flag functions. Another organisation's flag is "not found", never "not allowed".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import phonenumbers
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ...charts import Series, line_chart
from ...engine import audit
from ...engine import flags as flag_ops
from ...engine.conversation import latest_enrolment
from ...engine.inbound import unmatched_since
from ...engine.timeline import Event, timeline
from ...models import (
    Answer,
    AttemptResult,
    Checkup,
    CheckupStatus,
    Enrolment,
    Flag,
    FlagAttempt,
    FlagOutcome,
    Organisation,
    Participant,
    Role,
    User,
)
from ...protocols.loader import ProtocolError
from ...protocols.schema import AnswerType, Protocol, Question
from ..api import session_dep
from ..security import in_organisation, requires, verify_csrf
from ..templating import render, staff_zone

QUEUE_ROLES = ("volunteer", "lead")  # and admin, always
# Module level: the routes' string annotations (``from __future__ import annotations``) resolve here.
Worker = Annotated[User, Depends(requires(*QUEUE_ROLES))]
Db = Annotated[Session, Depends(session_dep)]
RECENT_CHECKUPS = 12  # answers shown on a flag page: the last dozen check-ups
TIMELINE_EVENTS = 60
UNMATCHED_NOTICE_DAYS = 7  # how far back the queue looks for unmatched messages with crisis words

SEVERITY_LABELS = {"urgent": "Urgent", "high": "High", "medium": "Medium", "low": "Low"}
SHOW_OPTIONS = (("all", "All open flags"), ("unclaimed", "Not claimed yet"), ("mine", "Claimed by me"))

RESULT_LABELS = {
    AttemptResult.reached.value: "Reached them",
    AttemptResult.no_answer.value: "No answer",
    AttemptResult.voicemail.value: "Left a voicemail (nothing telling)",
    AttemptResult.wrong_number.value: "Wrong number",
    AttemptResult.other.value: "Something else (say in the notes)",
}
OUTCOME_LABELS = {
    FlagOutcome.re_engaged_treatment.value: "Reached: back in touch with treatment",
    FlagOutcome.referred_recovery_support.value: "Reached: referred to recovery support or a meeting",
    FlagOutcome.no_action_needed.value: "Reached: nothing more needed",
    FlagOutcome.not_reached.value: "Not reached after several attempts",
    FlagOutcome.wrong_number.value: "Wrong number (the service needs to check it)",
    FlagOutcome.declined_contact.value: "Declined further contact",
}

# What just happened, shown after the redirect that follows a change (a fixed text per code: nothing
# from the request is echoed back).
DONE_MESSAGES = {
    "claimed": "You have claimed this flag. The number is below.",
    "attempt": "Attempt saved. Log each try: reaching people often takes several.",
    "resolved": "Flag resolved with its outcome. Thank you.",
    "released": "Flag released: it is back in the queue for anyone to claim.",
    "handed": "Flag handed over. Your colleague holds it now.",
}

# --- reasons in plain words ----------------------------------------------------------------------------

KIND_HEADLINES = {
    "crisis": "Wrote words that may mean they are in danger (suicide, self-harm or overdose).",
    "use": "Said they have used since the last check-in.",
    "craving": "Reported strong or rising urges.",
    "silence": "Has not answered recent check-ins.",
    "call": "Asked for someone to call them.",
    "number": "Their phone number could not be reached.",
    "message": "Wrote something that answers no question: read their message in the history below.",
    "other": "Needs a call from the team.",
}

KIND_TITLES = {
    "crisis": "Crisis words",
    "use": "Use since the last check-in",
    "craving": "Urges",
    "silence": "Missed check-ins",
    "call": "Asked for a call",
    "number": "Number not working",
    "message": "A message from them",
    "other": "Other",
}

BEFORE_YOU_CALL = (
    "Check it is them before you say why you are calling: ask for them by first name. If someone else "
    "answers, or you reach voicemail, leave only your first name and that you will call back; never name "
    "the service or treatment."
)

DEFAULT_SCRIPTS = {
    "crisis": (
        "Call now. Ask directly whether they are safe right now, and whether they have thought about ending "
        "their life or have taken too much. If they are in danger, call the emergency services (999 in the UK, "
        "911 in the US) and stay with them on the line. Give them the crisis numbers they were sent. Do not end "
        "the call until you know they are safe or help is with them, and tell your lead straight after."
    ),
    "use": (
        "Ask what happened, without judgement: a lapse is common and a reason for support, not a failure. "
        "Ask whether they are safe now. If they use opioids, check they have naloxone and advise them not to "
        "use alone. Offer a way back to their key worker or a treatment assessment, and agree a next step with "
        "a date."
    ),
    "craving": (
        "Ask what has been driving the urges and what has helped before. Go through what they can do in the "
        "next few hours (people to call, places to avoid, something to do). Offer an extra session or a "
        "recovery support meeting, and agree when you will call again."
    ),
    "silence": (
        "They have gone quiet: the aim is to reconnect, not to check up on them. Say you are calling to see "
        "how they are. With no answer, try again at other times of day over a few days: reaching people often "
        "takes many attempts. If they stay out of reach, ask your lead about locator work."
    ),
    "call": (
        "They asked for a call: call as soon as you can. Introduce yourself by first name, from the check-in "
        "service. Ask how they are and what they would like to talk about; listen first."
    ),
    "number": (
        "Messages to this number failed. Try calling once. If the number is wrong or dead, log it as 'wrong "
        "number' so the service that enrolled them can check it."
    ),
    "message": (
        "Read what they wrote before you call: it answered no check-in question, so they may be reaching out "
        "on their own. Start from what they said, ask how they are, and record what you agree."
    ),
    "other": "Ask how they are and what would help. Record what you agree.",
}

QUESTION_LABELS = {
    "any_use": "Used since last check-in",
    "use_days": "Days used (past 30)",
    "urges": "Urges",
    "confidence": "Confidence",
    "want_call": "Wants a call",
    "mood": "Mood",
    "stress": "Stress",
    "support": "Went to a support meeting",
    "people_support": "People who support them",
}

_USE_KEYS = {"any_use", "use_days", "overdose_risk"}
# For a reason without evidence (a protocol's own rule, an older flag): its rule id and words. Order matters.
_HINTS = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("crisis", r"crisis|suicid|self.harm"),
        ("silence", r"missed|lost contact|silen|no repl"),
        ("craving", r"urge|crav"),
        ("call", r"\bcall\b"),
        ("use", r"\bus(e|ed|ing)\b|relapse|lapse|drink"),
        ("number", r"number|unreachable|cannot reach"),
    )
)
_CRAVING_KEYS = {"urges", "confidence"}


def reason_kind(entry: dict[str, Any]) -> str:
    """Which kind of call a flag reason asks for: crisis, use, craving, silence, call, message, number or other."""
    source = str(entry.get("source") or "")
    if source == "crisis":
        return "crisis"
    if source == "call-request":
        return "call"
    if source.startswith("provider:"):
        return "number"
    if source == "message":
        return "message"
    evidence = entry.get("evidence")
    keys = set(evidence) if isinstance(evidence, dict) else set()
    keys = {k.removesuffix("_baseline").removesuffix("_previous") for k in keys}
    if "missed_in_a_row" in keys:
        return "silence"
    if "want_call" in keys:
        return "call"
    if keys & _USE_KEYS:
        return "use"
    if keys & _CRAVING_KEYS:
        return "craving"
    words = (source.removeprefix("rule:").replace("_", " ") + " " + str(entry.get("reason") or "")).lower()
    for kind, hint in _HINTS:
        if hint.search(words):
            return kind
    return "other"


@dataclass(frozen=True)
class Reason:
    kind: str
    headline: str  # the plain sentence for the kind
    detail: str  # the flag's own words, with the values behind it
    severity: str
    at: datetime | None


@dataclass(frozen=True)
class Script:
    title: str
    paragraphs: list[str]


def reasons_of(flag: Flag) -> list[Reason]:
    reasons = []
    for entry in flag.reasons:
        kind = reason_kind(entry)
        try:
            at = datetime.fromisoformat(str(entry.get("at")))
        except ValueError:
            at = None
        reasons.append(
            Reason(kind, KIND_HEADLINES[kind], str(entry.get("reason") or ""), str(entry.get("severity") or ""), at)
        )
    return reasons


def scripts_for(flag: Flag, protocol: Protocol | None) -> list[Script]:
    """The call script for each kind of reason: the protocol's own words for the rule first, then ours."""
    rules = {rule.id: rule for rule in protocol.risk_rules} if protocol else {}
    by_kind: dict[str, list[str]] = {}
    for entry in flag.reasons:
        kind = reason_kind(entry)
        paragraphs = by_kind.setdefault(kind, [])
        source = str(entry.get("source") or "")
        rule = rules.get(source.removeprefix("rule:")) if source.startswith("rule:") else None
        if rule is not None and rule.script and rule.script.strip() not in paragraphs:
            paragraphs.append(rule.script.strip())
    order = ("crisis", "use", "call", "message", "craving", "silence", "number", "other")
    scripts = []
    for kind in sorted(by_kind, key=order.index):
        scripts.append(Script(KIND_TITLES[kind], [*by_kind[kind], DEFAULT_SCRIPTS[kind]]))
    return scripts


# --- shared helpers ------------------------------------------------------------------------------------


def display_name(request: Request, participant: Participant) -> str:
    """The first name or alias the service gave, else a number: never the service's client reference."""
    if participant.alias_cipher:
        return request.app.state.runtime.ctx.vault.decrypt(participant.alias_cipher)
    return f"participant #{participant.id}"


def _pretty_phone(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def _protocol_of(request: Request, session: Session, participant_id: int) -> Protocol | None:
    enrolment = latest_enrolment(session, participant_id)
    if enrolment is None:
        return None
    try:
        return request.app.state.runtime.ctx.protocols.by_version_id(session, enrolment.protocol_version_id)
    except (KeyError, ProtocolError):  # a stored version that no longer parses must not hide the flag page
        return None


def _own_flag(session: Session, flag_id: int, user: User) -> Flag:
    """The flag, if the user's organisation may see it; another organisation's flag does not exist for them."""
    flag = session.get(Flag, flag_id)
    if flag is None or not in_organisation(user, flag.organisation_id):
        raise HTTPException(404, "There is no such flag.")
    return flag


def _emails(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {user_id: email for user_id, email in session.execute(select(User.id, User.email).where(User.id.in_(ids)))}


def _who(user_id: int | None, me: User, emails: dict[int, str]) -> str:
    if user_id is None:
        return ""
    if user_id == me.id:
        return "You"
    return emails.get(user_id, f"user #{user_id}")


# --- the queue -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    flag: Flag
    name: str
    headlines: list[str]
    claimed_by: str
    mine: bool
    overdue: bool
    organisation: str


@dataclass
class QueueFilters:
    severity: str = ""
    organisation: int | None = None
    show: str = "all"

    def hidden(self) -> list[tuple[str, str]]:
        """The filters as hidden form fields, so a claim comes back to the same view."""
        fields = [("severity", self.severity), ("show", self.show)]
        if self.organisation is not None:
            fields.append(("organisation", str(self.organisation)))
        return fields


def _filters(user: User, severity: str, organisation: str, show: str) -> QueueFilters:
    chosen = QueueFilters()
    if severity in SEVERITY_LABELS:
        chosen.severity = severity
    if show in dict(SHOW_OPTIONS):
        chosen.show = show
    # Only an admin without an organisation chooses one; everyone else sees their own.
    if user.organisation_id is None and organisation.isdigit():
        chosen.organisation = int(organisation)
    return chosen


def _queue_page(
    request: Request,
    session: Session,
    user: User,
    filters: QueueFilters,
    messages: Sequence[tuple[str, str]] = (),
    status_code: int = 200,
) -> Response:
    now = request.app.state.runtime.ctx.now()
    organisation_id = user.organisation_id if user.organisation_id is not None else filters.organisation
    flags = flag_ops.queue(session, organisation_id, filters.severity or None)
    if filters.show == "unclaimed":
        flags = [f for f in flags if f.state == "open"]
    elif filters.show == "mine":
        flags = [f for f in flags if f.state == "claimed" and f.claimed_by == user.id]
    participants = {
        p.id: p
        for p in session.scalars(select(Participant).where(Participant.id.in_({f.participant_id for f in flags})))
    }
    emails = _emails(session, {f.claimed_by for f in flags if f.claimed_by is not None})
    organisations = list(session.scalars(select(Organisation).order_by(Organisation.name)))
    org_names = {o.id: o.name for o in organisations}
    rows = []
    for flag in flags:
        headlines = list(dict.fromkeys(r.headline for r in reasons_of(flag)))
        rows.append(
            QueueRow(
                flag=flag,
                name=display_name(request, participants[flag.participant_id]),
                headlines=headlines,
                claimed_by=_who(flag.claimed_by, user, emails) if flag.state == "claimed" else "",
                mine=flag.state == "claimed" and flag.claimed_by == user.id,
                overdue=flag.due_by < now,
                organisation=org_names.get(flag.organisation_id, ""),
            )
        )
    done = request.query_params.get("done")
    notices = [("ok", DONE_MESSAGES[done])] if done in DONE_MESSAGES else []
    # A crisis text from a number we cannot match raises no flag (it belongs to no organisation), so the
    # people who may read it, admins, are told here, where they look for who needs a call.
    unmatched_crisis = 0
    if user.role == Role.admin.value:
        since = now - timedelta(days=UNMATCHED_NOTICE_DAYS)
        unmatched_crisis = unmatched_since(request.app.state.runtime.ctx, session, since).with_crisis_words
    return render(
        request,
        "volunteer/queue.html",
        status_code=status_code,
        messages=[*notices, *messages],
        rows=rows,
        filters=filters,
        severity_options=[("", "All severities"), *SEVERITY_LABELS.items()],
        show_options=SHOW_OPTIONS,
        organisation_options=(
            [("", "All organisations"), *((str(o.id), o.name) for o in organisations)]
            if user.organisation_id is None
            else None
        ),
        severity_labels=SEVERITY_LABELS,
        unmatched_crisis=unmatched_crisis,
        unmatched_days=UNMATCHED_NOTICE_DAYS,
    )


# --- one flag ------------------------------------------------------------------------------------------


@dataclass
class AnswerTable:
    columns: list[tuple[str, str]] = field(default_factory=list)  # (question id, label)
    rows: list[tuple[Checkup, dict[str, str]]] = field(default_factory=list)
    charts: list[tuple[str, Markup]] = field(default_factory=list)  # (caption, chart)


def _label(question_id: str) -> str:
    return QUESTION_LABELS.get(question_id, question_id.replace("_", " ").capitalize())


def _answers(session: Session, participant_id: int, protocol: Protocol | None, zone: ZoneInfo) -> AnswerTable:
    """The last check-ups (answered, missed, or with any answer) with their answers, and a chart per scale."""
    with_answers = select(Answer.checkup_id).where(Answer.participant_id == participant_id)
    checkups = list(
        session.scalars(
            select(Checkup)
            .join(Enrolment, Enrolment.id == Checkup.enrolment_id)
            .where(
                Enrolment.participant_id == participant_id,
                or_(
                    Checkup.status.in_((CheckupStatus.answered.value, CheckupStatus.missed.value)),
                    Checkup.id.in_(with_answers),
                ),
            )
            .order_by(Checkup.due_at.desc(), Checkup.id.desc())
            .limit(RECENT_CHECKUPS)
        )
    )
    table = AnswerTable()
    if not checkups:
        return table
    answers = session.scalars(
        select(Answer).where(Answer.checkup_id.in_([c.id for c in checkups])).order_by(Answer.id)
    ).all()
    questions: dict[str, Question] = {q.id: q for q in protocol.questions} if protocol else {}
    seen = list(dict.fromkeys(a.question_id for a in answers))
    ordered = [q for q in questions if q in seen] + [q for q in seen if q not in questions]
    table.columns = [(q, _label(q)) for q in ordered]
    values: dict[int, dict[str, str]] = {c.id: {} for c in checkups}
    numbers: dict[str, dict[int, int]] = {}
    for a in answers:
        if not a.parsed:
            shown = "not understood"
        elif a.value_text is not None:
            shown = a.value_text
        else:
            shown = "" if a.value_int is None else str(a.value_int)
            if a.value_int is not None:
                numbers.setdefault(a.question_id, {})[a.checkup_id] = a.value_int
        values[a.checkup_id][a.question_id] = shown
    table.rows = [(c, values[c.id]) for c in checkups]
    oldest_first = list(reversed(checkups))
    for question_id in ordered:
        question = questions.get(question_id)
        is_scale = question.type is AnswerType.scale if question else question_id in numbers
        if not is_scale or question_id not in numbers:
            continue
        points = [(c.due_at.astimezone(zone).date(), numbers[question_id].get(c.id)) for c in oldest_first]
        scale = f" ({question.min} to {question.max})" if question else ""
        table.charts.append(
            (
                _label(question_id) + scale,
                line_chart(
                    _label(question_id) + scale,
                    [Series(_label(question_id), points)],
                    y_min=question.min if question else None,
                    y_max=question.max if question else None,
                    width=340,
                    height=170,
                ),
            )
        )
    return table


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # a label for people
    text: str
    message: str | None = None  # a message's words, as written (escaped by the template)
    notes: str | None = None
    incoming: bool = False


CHECKUP_WORDS = {
    CheckupStatus.pending.value: "planned",
    CheckupStatus.awaiting.value: "sent, waiting for their reply",
    CheckupStatus.answered.value: "answered",
    CheckupStatus.missed.value: "missed (no reply in time)",
    CheckupStatus.skipped.value: "skipped",
    CheckupStatus.cancelled.value: "cancelled",
    CheckupStatus.failed.value: "could not be delivered",
}
CHANNEL_WORDS = {"sms": "text message", "voice": "automated call", "console": "test console"}


def _sent_words(summary: str) -> str:
    """``"question by sms: delivered"`` as ``"Question by text message (delivered)"``."""
    kind, _, rest = summary.partition(" by ")
    channel, _, status = rest.partition(": ")
    words = f"{kind.replace('_', ' ').capitalize()} by {CHANNEL_WORDS.get(channel, channel)}"
    return f"{words} ({status})" if status else words


def _timeline_item(event: Event) -> TimelineItem | None:
    detail = event.detail
    if event.kind == "answer":
        return None  # the answers table shows them
    if event.kind == "checkup":
        status = str(detail.get("status", ""))
        return TimelineItem(event.at, "Check-up", f"Check-up {detail.get('seq')}: {CHECKUP_WORDS.get(status, status)}")
    if event.kind == "sent":
        return TimelineItem(event.at, "Sent", _sent_words(event.summary), message=detail.get("text"))
    if event.kind == "received":
        return TimelineItem(event.at, "Reply", "They wrote", message=detail.get("text"), incoming=True)
    if event.kind == "flag":
        return TimelineItem(event.at, "Flag", event.summary[:1].upper() + event.summary[1:])
    if event.kind == "attempt":
        result = event.summary.rsplit(": ", 1)[-1]
        return TimelineItem(event.at, "Call attempt", RESULT_LABELS.get(result, result), notes=detail.get("notes"))
    if event.kind == "outcome":
        outcome = event.summary.rsplit(": ", 1)[-1]
        return TimelineItem(event.at, "Outcome", OUTCOME_LABELS.get(outcome, outcome), notes=detail.get("notes"))
    return TimelineItem(event.at, event.kind.capitalize(), event.summary)


def _flag_page(
    request: Request,
    session: Session,
    user: User,
    flag: Flag,
    messages: Sequence[tuple[str, str]] = (),
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    ctx = request.app.state.runtime.ctx
    now = ctx.now()
    participant = session.get(Participant, flag.participant_id)
    assert participant is not None
    mine = flag.state == "claimed" and flag.claimed_by == user.id
    phone = ctx.vault.decrypt(participant.phone_cipher) if mine else None
    audit.record(
        session,
        now,
        f"user:{user.id}",
        "participant.viewed",
        "participant",
        participant.id,
        flag_id=flag.id,
        phone_shown=phone is not None,
        via="web",
    )
    protocol = _protocol_of(request, session, participant.id)
    zone = staff_zone(request)
    attempts = list(session.scalars(select(FlagAttempt).where(FlagAttempt.flag_id == flag.id).order_by(FlagAttempt.at)))
    emails = _emails(
        session, {i for i in (flag.claimed_by, flag.resolved_by, *(a.user_id for a in attempts)) if i is not None}
    )
    try:
        their_zone: ZoneInfo | None = ZoneInfo(participant.timezone)
    except (ValueError, KeyError):
        their_zone = None
    events = [item for e in timeline(ctx, session, participant.id) if (item := _timeline_item(e)) is not None]
    done = request.query_params.get("done")
    notices = [("ok", DONE_MESSAGES[done])] if done in DONE_MESSAGES and not messages else []
    return render(
        request,
        "volunteer/flag.html",
        status_code=status_code,
        messages=[*notices, *messages],
        flag=flag,
        person=display_name(request, participant),
        reasons=reasons_of(flag),
        scripts=scripts_for(flag, protocol),
        before_you_call=BEFORE_YOU_CALL,
        mine=mine,
        phone=phone,
        phone_pretty=_pretty_phone(phone) if phone else None,
        claimed_by=_who(flag.claimed_by, user, emails),
        resolved_by=_who(flag.resolved_by, user, emails),
        overdue=flag.due_by < now,
        their_time=now.astimezone(their_zone) if their_zone else None,
        answers=_answers(session, participant.id, protocol, zone),
        events=events[:TIMELINE_EVENTS],
        more_events=max(0, len(events) - TIMELINE_EVENTS),
        attempts=[(a, _who(a.user_id, user, emails), RESULT_LABELS.get(a.result, a.result)) for a in attempts],
        candidates=[
            (str(u.id), f"{u.email} ({u.role})")
            for u in (flag_ops.hand_over_candidates(session, flag.organisation_id, user.id) if mine else [])
        ],
        result_options=list(RESULT_LABELS.items()),
        outcome_options=list(OUTCOME_LABELS.items()),
        outcome_label=OUTCOME_LABELS.get(flag.outcome or "", flag.outcome),
        severity_labels=SEVERITY_LABELS,
        form=form or {},
    )


def _conflict_message(session: Session, flag_id: int, user: User, action: str) -> str:
    """Plain words for a change the flag's state refused (someone else got there first, most often)."""
    flag = session.get(Flag, flag_id, populate_existing=True)
    if flag is None:
        return "There is no such flag."
    if flag.state == "resolved":
        return "This flag has already been resolved."
    if flag.state == "claimed" and flag.claimed_by != user.id:
        if action == "claim":
            return "Someone else has just claimed this flag. Pick another from the queue."
        return "This flag is claimed by someone else now, so you cannot change it."
    if flag.state == "open" and action != "claim":
        return "You no longer hold this flag (it went back to the queue). Claim it again first."
    return "This flag could not be changed. Reload the page and try again."


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    csrf = [Depends(verify_csrf)]

    def now_of(request: Request) -> datetime:
        return request.app.state.runtime.ctx.now()

    @pages.get("/queue", response_class=HTMLResponse)
    def queue_page(
        request: Request, session: Db, user: Worker, severity: str = "", organisation: str = "", show: str = "all"
    ) -> Response:
        return _queue_page(request, session, user, _filters(user, severity, organisation, show))

    @pages.post("/flags/{flag_id}/claim", response_class=HTMLResponse, dependencies=csrf)
    def claim(
        flag_id: int,
        request: Request,
        session: Db,
        user: Worker,
        severity: Annotated[str, Form()] = "",
        organisation: Annotated[str, Form()] = "",
        show: Annotated[str, Form()] = "all",
    ) -> Response:
        _own_flag(session, flag_id, user)
        try:
            flag_ops.claim(session, flag_id, user.id, now_of(request))
        except flag_ops.FlagError:
            message = _conflict_message(session, flag_id, user, "claim")
            filters = _filters(user, severity, organisation, show)
            return _queue_page(request, session, user, filters, [("error", message)], status_code=409)
        return RedirectResponse(f"/flags/{flag_id}?done=claimed", status_code=303)

    @pages.get("/flags/{flag_id}", response_class=HTMLResponse)
    def flag_page(flag_id: int, request: Request, session: Db, user: Worker) -> Response:
        return _flag_page(request, session, user, _own_flag(session, flag_id, user))

    def _change(
        request: Request,
        session: Session,
        user: User,
        flag_id: int,
        action: str,
        apply: Callable[[datetime], object],
        done_url: str,
        form: dict[str, str],
    ) -> Response:
        _own_flag(session, flag_id, user)
        try:
            apply(now_of(request))
        except flag_ops.FlagError as error:
            flag = session.get(Flag, flag_id, populate_existing=True)
            assert flag is not None
            held = flag.state == "claimed" and flag.claimed_by == user.id
            # Still yours: the input was refused (too long, not a choice); else the flag moved on.
            said = str(error)
            message = said[:1].upper() + said[1:] + "." if held else _conflict_message(session, flag_id, user, action)
            status = 400 if held else 409
            return _flag_page(request, session, user, flag, [("error", message)], status_code=status, form=form)
        return RedirectResponse(done_url, status_code=303)

    def _refused(
        request: Request, session: Session, user: User, flag_id: int, message: str, form: dict[str, str] | None = None
    ) -> Response:
        """A form sent without a valid choice: the page again, with what to fix and what was typed."""
        flag = _own_flag(session, flag_id, user)
        return _flag_page(request, session, user, flag, [("error", message)], status_code=400, form=form)

    @pages.post("/flags/{flag_id}/attempts", response_class=HTMLResponse, dependencies=csrf)
    def log_attempt(
        flag_id: int,
        request: Request,
        session: Db,
        user: Worker,
        result: Annotated[str, Form()] = "",
        notes: Annotated[str, Form()] = "",
    ) -> Response:
        if result not in RESULT_LABELS:
            message = "Choose what happened on the call."
            return _refused(request, session, user, flag_id, message, {"attempt_notes": notes})
        return _change(
            request,
            session,
            user,
            flag_id,
            "attempt",
            lambda now: flag_ops.log_attempt(session, flag_id, user.id, result, notes, now),
            f"/flags/{flag_id}?done=attempt",
            {"attempt_notes": notes},
        )

    @pages.post("/flags/{flag_id}/resolve", response_class=HTMLResponse, dependencies=csrf)
    def resolve(
        flag_id: int,
        request: Request,
        session: Db,
        user: Worker,
        outcome: Annotated[str, Form()] = "",
        notes: Annotated[str, Form()] = "",
    ) -> Response:
        if outcome not in OUTCOME_LABELS:
            return _refused(request, session, user, flag_id, "Choose an outcome.", {"resolve_notes": notes})
        return _change(
            request,
            session,
            user,
            flag_id,
            "resolve",
            lambda now: flag_ops.resolve(session, flag_id, user.id, outcome, notes, now),
            "/queue?done=resolved",
            {"resolve_notes": notes},
        )

    @pages.post("/flags/{flag_id}/release", response_class=HTMLResponse, dependencies=csrf)
    def release(flag_id: int, request: Request, session: Db, user: Worker) -> Response:
        return _change(
            request,
            session,
            user,
            flag_id,
            "release",
            lambda now: flag_ops.release(session, flag_id, user.id, now),
            "/queue?done=released",
            {},
        )

    @pages.post("/flags/{flag_id}/hand-over", response_class=HTMLResponse, dependencies=csrf)
    def hand_over(
        flag_id: int,
        request: Request,
        session: Db,
        user: Worker,
        to_user: Annotated[str, Form()] = "",
    ) -> Response:
        if not to_user.isdigit():
            return _refused(request, session, user, flag_id, "Choose who takes this flag over.")
        return _change(
            request,
            session,
            user,
            flag_id,
            "hand_over",
            lambda now: flag_ops.hand_over(session, flag_id, user.id, int(to_user), now),
            "/queue?done=handed",
            {},
        )

    return pages
