"""The treatment services' pages: enrol one person by form (``/enrol``), many by CSV (``/enrol/csv``: a preview
of every row's problems before anything is saved, then the good rows), and their own organisation's
participants (``/participants``) with pause, resume, withdraw, and change of phone or send window.

The pages are thin: parsing and checking are in :mod:`checkups.engine.csv_import`, changes in
:mod:`checkups.engine.enrolment`, which audits them. Every view of a participant's page is audited here
(``participant.viewed``, ``via="web"``); the full phone number is shown only on request, to enrollers and
admins, and that view is audited with ``phone_shown``. Another organisation's participant is "not found".

An uploaded file is kept between its preview and its import in the preview page itself: a hidden field with
its text, signed (itsdangerous, its own salt) and bound to the user and their session, so nothing is kept on
the server and nothing but the previewed file can be imported with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from ...engine import audit
from ...engine import enrolment as enrolment_ops
from ...engine.csv_import import (
    COLUMN_NAMES,
    COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    CsvFile,
    assess_rows,
    error_report,
    merge_errors,
    parse_days,
    parse_time,
    read_csv,
    request_from_fields,
    template_csv,
)
from ...engine.errors import EnrolmentConflict, InvalidEnrolment, InvalidTransition, NotFound
from ...models import Checkup, Enrolment, Organisation, ProtocolVersion, User
from ...phones import masked
from ...protocols.schema import Weekday
from ...runtime import Runtime, session_secret
from ..api import session_dep
from ..api_enrolment import PER_PAGE, WRITE_ROLES, find_overview, list_overviews, organisation_slug
from ..security import csrf_token, requires, verify_csrf
from ..templating import render

# Module level: the routes' string annotations (``from __future__ import annotations``) resolve here.
Enroller = Annotated[User, Depends(requires("enroller"))]
Staff = Annotated[User, Depends(requires("enroller", "lead"))]
Db = Annotated[Session, Depends(session_dep)]

COMMON_ZONES = (
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Amsterdam",
    "Europe/Warsaw",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Toronto",
    "America/Vancouver",
    "Australia/Sydney",
    "Australia/Perth",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "Africa/Johannesburg",
)
DAYS = tuple((d.value, d.value.capitalize()) for d in Weekday)
METHOD_LABELS = (("written", "Written"), ("verbal", "Verbal"), ("electronic", "Electronic"))
RISK_LABELS = (
    ("", "None recorded"),
    ("opioids", "Uses opioids"),
    ("detox", "Left detox (tolerance is down)"),
    ("residential", "Left residential treatment"),
    ("prison", "Left prison"),
    ("opioid_treatment_stopped", "Stopped opioid treatment"),
)
STATUS_LABELS = {
    "active": "Active",
    "paused": "Paused",
    "withdrawn": "Withdrawn",
    "completed": "Completed",
    "opted_out": "Opted out (STOP)",
}
OUTCOME_LABELS = {
    "new": "Will be enrolled",
    "already_enrolled": "Already enrolled: nothing will change",
    "conflict": "Enrolled differently: refused",
    "invalid": "Has errors: not imported",
}
DONE_MESSAGES = {
    "paused": "Paused: nothing is sent until the enrolment is resumed.",
    "resumed": "Resumed: the next check-up is planned from where the protocol now is.",
    "withdrawn": "Withdrawn: nothing more is sent.",
    "phone": "Phone number changed.",
    "window": "Send window changed; the next check-up has moved into it.",
}
# The upload's request body: the file, the CSRF field and the multipart framing.
UPLOAD_LIMIT = MAX_BYTES + 64 * 1024
# The import's body: the signed (compressed) text of a file within the limit, and the CSRF field.
IMPORT_LIMIT = 8 * MAX_BYTES
PREVIEW_HOURS = 2
SIGNER_SALT = "checkups.enrolment-csv"


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def form_data(request: Request) -> AsyncIterator[FormData]:
    """The posted form, parsed once (``verify_csrf`` reads the same), its uploaded files closed afterwards.

    List it before ``verify_csrf`` on upload routes, so that a refused upload is closed too.
    """
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


Form = Annotated[FormData, Depends(form_data)]


def body_limit(limit: int, what: str) -> Any:
    """A dependency that refuses a body larger than ``limit`` before it is read (list it before verify_csrf)."""

    def check(request: Request) -> None:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise HTTPException(411, "The upload did not say its size. Try again from the form.")
        if int(length) > limit:
            raise HTTPException(
                413,
                f"{what} is too large: the limit is {MAX_BYTES // 1024} KB (about {MAX_ROWS} rows). "
                "Split the file and upload each part.",
            )

    return Depends(check)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _list(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _organisations(session: Session, user: User) -> list[tuple[str, str]]:
    """The organisations a user may enrol into: admins of all organisations choose one."""
    if user.organisation_id is not None:
        return []
    return [(o.slug, o.name) for o in session.scalars(select(Organisation).order_by(Organisation.name))]


def _protocol_choices(runtime: Runtime) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(name, label) of each valid protocol, the languages they speak, and each one's default window."""
    options, languages, windows = [], [], []
    try:
        protocols = list(runtime.ctx.protocols.catalog)
    except ValueError:
        protocols = []
    for protocol in protocols:
        options.append((protocol.name, f"{protocol.title} ({protocol.name})"))
        w = protocol.send_window
        days = " ".join(d.value.capitalize() for d in w.days)
        windows.append(f"{protocol.name}: {w.start:%H:%M}–{w.end:%H:%M} {days}, by {protocol.channels.preferred.value}")
        languages.extend(code for code in protocol.languages if code not in languages)
    return options, languages, windows


# --- the enrolment form ---------------------------------------------------------------------------------------


def _form_page(
    request: Request,
    session: Session | None,
    user: User,
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
    messages: list[tuple[str, str]] | None = None,
    organisations: list[tuple[str, str]] | None = None,
) -> Response:
    runtime = _runtime(request)
    protocols, languages, windows = _protocol_choices(runtime)
    if organisations is None:
        organisations = _organisations(session, user) if session is not None else []
    return render(
        request,
        "enrolment/form.html",
        status_code=status_code,
        values=values,
        errors=dict(errors or {}),
        messages=messages or [],
        protocols=protocols,
        languages=[(code, code) for code in languages],
        windows=windows,
        zones=COMMON_ZONES,
        days=DAYS,
        methods=list(METHOD_LABELS),
        risks=list(RISK_LABELS),
        organisations=organisations,
    )


def _blank_values(request: Request, user: User) -> dict[str, Any]:
    runtime = _runtime(request)
    staff_zone = runtime.settings.staff_timezone
    today = runtime.ctx.now().astimezone(ZoneInfo(staff_zone)).date()
    return {
        # A person lives somewhere, not in UTC: no guess when the service's own zone is not set.
        "timezone": "" if staff_zone in ("UTC", "Etc/UTC") else staff_zone,
        "anchor_date": today.isoformat(),
        "consent_by": user.email,
        "consent_method": "",
        "window_days": [],
        "consent_channels": [],  # consent is never ticked in advance
    }


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: _text(form, name) for name in COLUMN_NAMES}
    values["window_days"] = _list(form, "window_days")
    values["consent_channels"] = _list(form, "consent_channels")
    values["organisation"] = _text(form, "organisation")
    return values


def _as_fields(values: Mapping[str, Any]) -> dict[str, str]:
    fields = {k: v for k, v in values.items() if isinstance(v, str)}
    fields["window_days"] = " ".join(values.get("window_days") or [])
    fields["consent_channels"] = " ".join(values.get("consent_channels") or [])
    return fields


@dataclass
class Shown:
    """A participant's overview as a page shows it: times in their own zone."""

    overview: Any
    alias: str | None
    zone: ZoneInfo


# --- CSV: signing the previewed file ------------------------------------------------------------------------


def _signer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    signer = getattr(state, "enrolment_csv_signer", None)
    if signer is None:
        signer = URLSafeTimedSerializer(session_secret(_runtime(request).settings), salt=SIGNER_SALT)
        state.enrolment_csv_signer = signer
    return signer


def _sign_upload(request: Request, user: User, organisation: str, filename: str, text: str) -> str:
    payload = {"u": user.id, "s": csrf_token(request), "o": organisation, "n": filename, "t": text}
    return str(_signer(request).dumps(payload))


def _read_upload(request: Request, user: User, signed: str) -> dict[str, Any]:
    try:
        payload = _signer(request).loads(signed, max_age=PREVIEW_HOURS * 3600)
    except SignatureExpired:
        raise HTTPException(
            400, f"This preview is more than {PREVIEW_HOURS} hours old. Upload the file again."
        ) from None
    except BadSignature:
        raise HTTPException(400, "This upload could not be read back. Upload the file again.") from None
    if not isinstance(payload, dict) or payload.get("u") != user.id or payload.get("s") != csrf_token(request):
        raise HTTPException(400, "This preview belongs to another session. Upload the file again.")
    return payload


def _checked(request: Request, organisation: str, text: str) -> CsvFile:
    runtime = _runtime(request)
    parsed = read_csv(text.encode("utf-8"), organisation)
    if parsed.ok:
        with runtime.factory() as session:
            assess_rows(runtime.ctx, session, parsed)
    return parsed


def _csv_page(
    request: Request,
    session: Session,
    user: User,
    status_code: int = 200,
    problems: list[Any] | None = None,
    filename: str = "",
    organisation: str = "",
    errors: Mapping[str, str] | None = None,
) -> Response:
    return render(
        request,
        "enrolment/csv_upload.html",
        status_code=status_code,
        columns=COLUMNS,
        max_kb=MAX_BYTES // 1024,
        max_rows=MAX_ROWS,
        problems=problems or [],
        filename=filename,
        organisations=_organisations(session, user),
        organisation=organisation,
        errors=dict(errors or {}),
    )


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/enrol")
    def enrol_form(request: Request, session: Db, user: Enroller) -> Response:
        return _form_page(request, session, user, _blank_values(request, user))

    @pages.post("/enrol", dependencies=[Depends(verify_csrf)])
    def enrol_submit(request: Request, session: Db, user: Enroller, form: Form) -> Response:
        runtime = _runtime(request)
        values = _form_values(form)
        organisations = _organisations(session, user)
        errors: dict[str, str] = {}
        try:
            organisation = organisation_slug(session, user, values["organisation"] or None)
        except ValueError as error:
            errors["organisation"] = str(error)
            organisation = ""
        session.commit()  # the engine writes in its own transaction (SQLite has one writer at a time)
        enrol_request, parse_errors = request_from_fields(organisation, _as_fields(values))
        errors.update(parse_errors)

        def invalid(engine_errors: Mapping[str, str]) -> Response:
            merged = merge_errors(errors, engine_errors)
            messages = [("error", "Nothing was saved. Correct the fields marked below.")]
            if "" in merged and "organisation" not in merged:
                messages.append(("error", merged[""]))
            return _form_page(request, None, user, values, merged, 422, messages=messages, organisations=organisations)

        if errors:
            with runtime.factory() as read:
                return invalid(enrolment_ops.assess(runtime.ctx, read, enrol_request).errors)
        try:
            result = enrolment_ops.enrol(runtime.ctx, runtime.factory, enrol_request, actor=f"user:{user.id}")
        except InvalidEnrolment as error:
            return invalid(error.errors)
        except EnrolmentConflict as error:
            return _form_page(
                request,
                None,
                user,
                values,
                {},
                409,
                messages=[("error", f"Not enrolled: {error.reason}.")],
                organisations=organisations,
            )
        with runtime.factory() as read:
            overview = find_overview(read, result.enrolment.participant_id, None)
        assert overview is not None
        first = result.first_checkup.due_at if result.first_checkup is not None else overview.next_at
        alias = (
            runtime.ctx.vault.decrypt(overview.participant.alias_cipher) if overview.participant.alias_cipher else None
        )
        return render(
            request,
            "enrolment/done.html",
            overview=overview,
            created=result.created,
            first=first,
            alias=alias,
            person_zone=overview.zone,
            status_labels=STATUS_LABELS,
            hhmm=_hhmm,
        )

    # --- CSV ----------------------------------------------------------------------------------------------

    @pages.get("/enrol/csv")
    def csv_form(request: Request, session: Db, user: Enroller) -> Response:
        return _csv_page(request, session, user)

    @pages.get("/enrol/csv/template.csv")
    def csv_template(user: Enroller) -> Response:
        return Response(
            template_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="enrolment-template.csv"'},
        )

    @pages.post(
        "/enrol/csv", dependencies=[body_limit(UPLOAD_LIMIT, "The file"), Depends(form_data), Depends(verify_csrf)]
    )
    def csv_preview(request: Request, session: Db, user: Enroller, form: Form) -> Response:
        upload = form.get("file")
        asked = _text(form, "organisation")
        try:
            organisation = organisation_slug(session, user, asked or None)
        except ValueError as error:
            return _csv_page(request, session, user, 422, organisation=asked, errors={"organisation": str(error)})
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _csv_page(request, session, user, 422, organisation=asked, errors={"file": "choose a CSV file"})
        filename = upload.filename[-120:]
        data = upload.file.read(MAX_BYTES + 1)
        session.commit()
        parsed = read_csv(data, organisation)
        if not parsed.ok:
            with _runtime(request).factory() as read:
                return _csv_page(request, read, user, 422, parsed.problems, filename, asked)
        runtime = _runtime(request)
        with runtime.factory() as read:
            assess_rows(runtime.ctx, read, parsed)
        good = [r for r in parsed.rows if r.good]
        return render(
            request,
            "enrolment/csv_preview.html",
            parsed=parsed,
            filename=filename,
            good=len(good),
            new=sum(r.outcome == "new" for r in good),
            already=sum(r.outcome == "already_enrolled" for r in good),
            bad=len(parsed.rows) - len(good),
            outcome_labels=OUTCOME_LABELS,
            signed=_sign_upload(request, user, organisation, filename, parsed.text),
        )

    @pages.post("/enrol/csv/import", dependencies=[body_limit(IMPORT_LIMIT, "The preview"), Depends(verify_csrf)])
    def csv_import(request: Request, session: Db, user: Enroller, form: Form) -> Response:
        payload = _read_upload(request, user, _text(form, "upload"))
        session.commit()
        runtime = _runtime(request)
        parsed = _checked(request, payload["o"], payload["t"])
        if not parsed.ok:  # the same text parsed before; only a change of the code could get here
            raise HTTPException(400, "This file can no longer be read. Upload it again.")
        results: list[tuple[Any, str, str]] = []  # (row, outcome, detail)
        counts = {"created": 0, "already_enrolled": 0, "failed": 0}
        for row in parsed.rows:
            if not row.good:
                continue
            try:
                result = enrolment_ops.enrol(runtime.ctx, runtime.factory, row.request, actor=f"user:{user.id}")
            except InvalidEnrolment as error:  # changed since the preview (another upload, a STOP)
                counts["failed"] += 1
                results.append((row, "failed", "; ".join(f"{k}: {v}" for k, v in error.errors.items())))
                continue
            except EnrolmentConflict as error:
                counts["failed"] += 1
                results.append((row, "failed", error.reason))
                continue
            outcome = "created" if result.created else "already_enrolled"
            counts[outcome] += 1
            detail = f"enrolment {result.enrolment.id}"
            results.append((row, outcome, detail))
        with runtime.factory() as write, write.begin():
            organisation = write.scalars(select(Organisation).where(Organisation.slug == payload["o"])).first()
            audit.record(
                write,
                runtime.ctx.now(),
                f"user:{user.id}",
                "enrolment.csv_imported",
                "organisation",
                organisation.id if organisation else None,
                created=counts["created"],
                already_enrolled=counts["already_enrolled"],
                failed=counts["failed"],
                not_imported=len(parsed.bad_rows),
            )
        return render(
            request,
            "enrolment/csv_result.html",
            filename=payload["n"],
            results=results,
            counts=counts,
            bad=parsed.bad_rows,
            signed=_text(form, "upload"),
        )

    @pages.post("/enrol/csv/errors.csv", dependencies=[body_limit(IMPORT_LIMIT, "The preview"), Depends(verify_csrf)])
    def csv_errors(request: Request, session: Db, user: Enroller, form: Form) -> Response:
        payload = _read_upload(request, user, _text(form, "upload"))
        session.commit()
        parsed = _checked(request, payload["o"], payload["t"])
        name = str(payload["n"]).rsplit(".", 1)[0]
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "upload"
        return Response(
            error_report(parsed.bad_rows, parsed.problems),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{safe}-errors.csv"'},
        )

    # --- participants -----------------------------------------------------------------------------------

    @pages.get("/participants")
    def participants(
        request: Request, session: Db, user: Staff, status: str = "", ref: str = "", page: int = 1
    ) -> Response:
        runtime = _runtime(request)
        messages = []
        if status and status not in STATUS_LABELS:
            messages.append(("error", "Unknown status: showing everyone."))
            status = ""
        ref = ref.strip()[:100]
        page = max(1, min(page, 100_000))
        items, total = list_overviews(session, user.organisation_id, status or None, ref or None, (page - 1) * PER_PAGE)
        audit.record(
            session,
            runtime.ctx.now(),
            f"user:{user.id}",
            "participants.listed",
            "organisation",
            user.organisation_id,
            via="web",
            shown=len(items),
        )
        vault = runtime.ctx.vault
        shown = [
            Shown(o, vault.decrypt(o.participant.alias_cipher) if o.participant.alias_cipher else None, o.zone)
            for o in items
        ]
        pages_count = max(1, (total + PER_PAGE - 1) // PER_PAGE)
        return render(
            request,
            "enrolment/participants.html",
            rows=shown,
            total=total,
            status=status,
            ref=ref,
            page=page,
            pages_count=pages_count,
            status_labels=STATUS_LABELS,
            messages=messages,
            all_organisations=user.organisation_id is None,
        )

    @pages.get("/participants/{participant_id}")
    def participant(
        participant_id: int, request: Request, session: Db, user: Staff, phone: str = "", done: str = ""
    ) -> Response:
        messages = [("ok", DONE_MESSAGES[done])] if done in DONE_MESSAGES else []
        return _participant_page(request, session, user, participant_id, show_phone=phone == "show", messages=messages)

    def _after(
        request: Request,
        user: User,
        participant_id: int,
        change: Any,
        done: str,
        fields: Mapping[str, Any] | None = None,
    ) -> Response:
        """Run ``change`` (the request's session is already committed); redirect, or show the page with errors."""
        runtime = _runtime(request)
        try:
            change(runtime, f"user:{user.id}")
        except InvalidEnrolment as error:
            errors = merge_errors({}, error.errors)
            return _page_again(request, user, participant_id, 422, errors=errors, values=fields)
        except (InvalidTransition, NotFound) as error:
            return _page_again(request, user, participant_id, 409, messages=[("error", f"Not changed: {error}.")])
        return RedirectResponse(f"/participants/{participant_id}?done={done}", status_code=303)

    def _page_again(
        request: Request,
        user: User,
        participant_id: int,
        status_code: int,
        errors: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        messages: list[tuple[str, str]] | None = None,
    ) -> Response:
        messages = messages or [("error", "Nothing was changed. Correct the field marked below.")]
        with _runtime(request).factory() as session, session.begin():
            return _participant_page(
                request,
                session,
                user,
                participant_id,
                errors=errors,
                values=values,
                messages=messages,
                status_code=status_code,
            )

    def _current(session: Session, user: User, participant_id: int) -> Enrolment:
        found = find_overview(session, participant_id, user.organisation_id)
        if found is None:
            raise HTTPException(404, "There is no such participant in your organisation.")
        enrolment = found.enrolment
        session.commit()
        return enrolment

    @pages.post("/participants/{participant_id}/pause", dependencies=[Depends(verify_csrf)])
    def pause(participant_id: int, request: Request, session: Db, user: Enroller, form: Form) -> Response:
        enrolment = _current(session, user, participant_id)
        reason = _text(form, "pause_reason")[:500] or None
        return _after(
            request,
            user,
            participant_id,
            lambda rt, actor: enrolment_ops.pause(rt.ctx, rt.factory, enrolment.id, actor, reason),
            "paused",
        )

    @pages.post("/participants/{participant_id}/resume", dependencies=[Depends(verify_csrf)])
    def resume(participant_id: int, request: Request, session: Db, user: Enroller) -> Response:
        enrolment = _current(session, user, participant_id)
        return _after(
            request,
            user,
            participant_id,
            lambda rt, actor: enrolment_ops.resume(rt.ctx, rt.factory, enrolment.id, actor),
            "resumed",
        )

    @pages.post("/participants/{participant_id}/withdraw", dependencies=[Depends(verify_csrf)])
    def withdraw(participant_id: int, request: Request, session: Db, user: Enroller, form: Form) -> Response:
        enrolment = _current(session, user, participant_id)
        reason = _text(form, "withdraw_reason")
        if not reason or len(reason) > 500:
            message = "say why, in a few words (no health details)" if not reason else "at most 500 characters"
            return _page_again(request, user, participant_id, 422, errors={"withdraw_reason": message})
        return _after(
            request,
            user,
            participant_id,
            lambda rt, actor: enrolment_ops.withdraw(rt.ctx, rt.factory, enrolment.id, actor, reason),
            "withdrawn",
        )

    @pages.post("/participants/{participant_id}/phone", dependencies=[Depends(verify_csrf)])
    def change_phone(participant_id: int, request: Request, session: Db, user: Enroller, form: Form) -> Response:
        _current(session, user, participant_id)
        phone = _text(form, "phone")
        return _after(
            request,
            user,
            participant_id,
            lambda rt, actor: enrolment_ops.change_phone(rt.ctx, rt.factory, participant_id, phone, actor),
            "phone",
            {"phone": phone},
        )

    @pages.post("/participants/{participant_id}/window", dependencies=[Depends(verify_csrf)])
    def change_window(participant_id: int, request: Request, session: Db, user: Enroller, form: Form) -> Response:
        enrolment = _current(session, user, participant_id)
        values: dict[str, Any] = {
            "window_start": _text(form, "window_start"),
            "window_end": _text(form, "window_end"),
            "window_days": _list(form, "window_days"),
        }
        errors: dict[str, str] = {}
        start = end = None
        days: tuple[str, ...] | None = None
        for name in ("window_start", "window_end"):
            try:
                parsed = parse_time(values[name])
            except ValueError as error:
                errors[name] = str(error)
                continue
            if name == "window_start":
                start = parsed
            else:
                end = parsed
        try:
            days = parse_days(" ".join(values["window_days"]))
        except ValueError as error:
            errors["window_days"] = str(error)
        if days is None and "window_days" not in errors:
            errors["window_days"] = "tick at least one day"
        if errors:
            return _page_again(request, user, participant_id, 422, errors=errors, values=values)
        return _after(
            request,
            user,
            participant_id,
            lambda rt, actor: enrolment_ops.change_window(rt.ctx, rt.factory, enrolment.id, actor, start, end, days),
            "window",
            values,
        )

    return pages


def _hhmm(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


def _participant_page(
    request: Request,
    session: Session,
    user: User,
    participant_id: int,
    show_phone: bool = False,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    messages: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    """A participant's page; every showing is audited (and whether the full number was on it)."""
    runtime = _runtime(request)
    found = find_overview(session, participant_id, user.organisation_id)
    if found is None:
        raise HTTPException(404, "There is no such participant in your organisation.")
    can_change = user.role in WRITE_ROLES
    show_phone = show_phone and can_change
    vault = runtime.ctx.vault
    p = found.participant
    phone = vault.decrypt(p.phone_cipher)
    enrolments = session.execute(
        select(Enrolment, ProtocolVersion.version)
        .join(ProtocolVersion, ProtocolVersion.id == Enrolment.protocol_version_id)
        .where(Enrolment.participant_id == participant_id)
        .order_by(Enrolment.id.desc())
    ).all()
    checkups = session.scalars(
        select(Checkup).where(Checkup.enrolment_id == found.enrolment.id).order_by(Checkup.seq.desc()).limit(8)
    ).all()
    audit.record(
        session,
        runtime.ctx.now(),
        f"user:{user.id}",
        "participant.viewed",
        "participant",
        participant_id,
        via="web",
        phone_shown=show_phone,
    )
    e = found.enrolment
    window_values = {
        "window_start": _hhmm(e.window_start),
        "window_end": _hhmm(e.window_end),
        "window_days": e.window_days.split(","),
        "phone": "",
    }
    window_values.update(values or {})
    return render(
        request,
        "enrolment/participant.html",
        status_code=status_code,
        o=found,
        alias=vault.decrypt(p.alias_cipher) if p.alias_cipher else None,
        phone=phone if show_phone else masked(phone),
        phone_shown=show_phone,
        person_zone=found.zone,
        enrolments=enrolments,
        checkups=checkups,
        can_change=can_change,
        running=e.status in enrolment_ops.RUNNING,
        errors=dict(errors or {}),
        values=window_values,
        messages=messages or [],
        status_labels=STATUS_LABELS,
        days=DAYS,
        hhmm=_hhmm,
    )
