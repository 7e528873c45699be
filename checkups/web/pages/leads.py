"""The program leads' pages: the protocols in the folder (source, validation, schedule preview, which
version each enrolment runs on) and the dashboard of response and re-engagement figures, with its CSV.

Leads see their own organisation's numbers only; admins see every organisation, with a filter. The
figures come from :mod:`checkups.engine.metrics`; the charts are drawn here, on the server, as SVG.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...charts import PALETTE, SEVERITY_COLOURS, Series, bar_chart, line_chart
from ...engine import metrics
from ...engine.planner import STEP_UP_PHASE
from ...models import FlagOutcome, Organisation, ProtocolVersion, Role, User
from ...protocols.loader import MAX_FILE_BYTES, LoadResult, load_file, protocol_files
from ...protocols.schedule import PlannedCheckup, UnknownTimeZone, due_dates, expand, zone
from ...protocols.schema import Protocol, SendWindow, Weekday
from ..api import reading, session_dep
from ..security import requires
from ..templating import render

OUTCOME_LABELS = {
    FlagOutcome.re_engaged_treatment.value: "Back in touch with treatment",
    FlagOutcome.referred_recovery_support.value: "Referred to recovery support",
    FlagOutcome.no_action_needed.value: "Reached, nothing more needed",
    FlagOutcome.not_reached.value: "Not reached",
    FlagOutcome.wrong_number.value: "Wrong number",
    FlagOutcome.declined_contact.value: "Declined contact",
}
REASON_LABELS = {
    "crisis": "Crisis words",
    "call_request": "Texted CALL",
    "unreachable_number": "Number cannot be reached",
    "message": "Wrote a message to read",
}
MOST_REASONS_CHARTED = 6  # the rest are one bar segment, "other reasons" (the table lists every one)
DAYS = [(d.value, d.value.capitalize()) for d in Weekday]

LeadUser = Annotated[User, Depends(requires(Role.lead.value))]
Db = Annotated[Session, Depends(session_dep)]


# --- protocols ------------------------------------------------------------------------------------------


@dataclass
class ProtocolEntry:
    """One file of the protocols folder, valid or not, and the enrolments on each version of its name."""

    name: str
    file: str
    result: LoadResult
    checkups: int | None = None
    versions: list[metrics.VersionCount] = field(default_factory=list)

    @property
    def protocol(self) -> Protocol | None:
        return self.result.protocol if self.result.ok else None

    @property
    def current_version(self) -> str | None:
        return self.protocol.version if self.protocol else None

    @property
    def running_elsewhere(self) -> int:
        """Running enrolments on a version other than the file's current one."""
        return sum(v.running for v in self.versions if v.version != self.current_version)


def _protocols_dir(request: Request) -> Path:
    return Path(request.app.state.runtime.settings.protocols_dir)


def _scope(user: User) -> int | None:
    """The organisation whose numbers ``user`` sees: a lead's own; None (all) for an admin."""
    return None if user.role == Role.admin.value else user.organisation_id


def _entries(request: Request, session: Session, user: User) -> tuple[list[ProtocolEntry], list[metrics.VersionCount]]:
    """Every file in the folder, and the enrolled versions whose protocol has no file any more."""
    today = request.app.state.runtime.ctx.now().date()
    entries: dict[str, ProtocolEntry] = {}
    for path in protocol_files(_protocols_dir(request)):
        result = load_file(path)
        entry = ProtocolEntry(path.stem, path.name, result)
        if entry.protocol is not None:
            try:
                entry.checkups = len(due_dates(entry.protocol.schedule.phases, today))
            except RuntimeError:  # a schedule that never ends: the count is left blank, the page still shows
                entry.checkups = None
        entries.setdefault(path.stem, entry)
    orphans = []
    for count in metrics.enrolments_by_version(session, _scope(user)):
        if count.protocol in entries:
            entries[count.protocol].versions.append(count)
        else:
            orphans.append(count)
    return list(entries.values()), orphans


def _shown_problems(result: LoadResult) -> list[dict[str, Any]]:
    """Problems without the server's folder path (the file name is enough)."""
    return [
        {"line": p.line, "field": p.field, "message": p.message, "warning": p.warning}
        for p in sorted(result.problems, key=lambda p: (p.line, p.warning))
    ]


def _source_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if len(data) > MAX_FILE_BYTES:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


@dataclass
class Preview:
    values: dict[str, Any]
    errors: dict[str, str]
    planned: list[PlannedCheckup] | None = None
    window: SendWindow | None = None
    zone_name: str = ""


def hhmm(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


def _window_field(loc: tuple[Any, ...], message: str) -> str:
    if loc and loc[0] in {"start", "end"}:
        return "window_" + str(loc[0])
    return "days" if "day" in message else "window_end"


def _preview(
    protocol: Protocol | None,
    start: str | None,
    tz: str | None,
    window_start: str | None,
    window_end: str | None,
    days: list[str],
    default_tz: str,
    today: date,
) -> Preview:
    """The schedule for someone discharged on ``start`` in ``tz``: the same expansion as
    ``checkups protocols preview`` (and as enrolment)."""
    values: dict[str, Any] = {
        "start": start or today.isoformat(),
        "tz": tz or default_tz,
        "window_start": window_start or "",
        "window_end": window_end or "",
        "days": days,
    }
    preview = Preview(values, {})
    if protocol is None or start is None:
        return preview
    errors = preview.errors
    anchor = tzinfo = window = None
    try:
        anchor = date.fromisoformat(start.strip())
    except ValueError:
        errors["start"] = "Give the discharge date as YYYY-MM-DD."
    try:
        tzinfo = zone((tz or default_tz).strip())
    except UnknownTimeZone:
        errors["tz"] = "Not a time zone name: use one like Europe/London or America/New_York."
    default = protocol.send_window
    try:
        window = SendWindow.model_validate(
            {
                # A browser's time field may add seconds ("10:00:00").
                "start": (window_start or hhmm(default.start)).strip()[:5],
                "end": (window_end or hhmm(default.end)).strip()[:5],
                "days": days or [d.value for d in default.days],
            }
        )
    except ValidationError as error:
        for item in error.errors(include_url=False):
            message = item["msg"].removeprefix("Value error, ")
            errors.setdefault(_window_field(tuple(item["loc"]), message), message[:1].upper() + message[1:] + ".")
    if errors or anchor is None or tzinfo is None or window is None:
        return preview
    try:
        preview.planned = expand(protocol, anchor, tzinfo, window)
    except RuntimeError as error:  # no window opens for two weeks: say so rather than fail the page
        errors["days"] = f"No schedule can be placed in this window: {error}."
        return preview
    preview.window = window
    preview.zone_name = str(tzinfo)
    return preview


# --- dashboard ------------------------------------------------------------------------------------------


@dataclass
class Choice:
    """The dashboard's filters as asked for, the errors in them, and the options offered."""

    filters: metrics.Filters
    values: dict[str, str]
    errors: dict[str, str]
    organisations: list[tuple[str, str]]
    protocols: list[tuple[str, str]]
    phases: list[tuple[str, str]]
    organisation_name: str
    organisation_slug: str  # "all" for every organisation


def _options(request: Request, session: Session) -> tuple[list[str], list[str]]:
    """Protocol names (files and enrolled versions) and phase names to offer as filters."""
    names: set[str] = set(session.scalars(select(ProtocolVersion.name).distinct()))
    phases: set[str] = {STEP_UP_PHASE}
    for path in protocol_files(_protocols_dir(request)):
        result = load_file(path)
        if result.ok and result.protocol is not None:
            names.add(result.protocol.name)
            phases.update(p.name for p in result.protocol.schedule.phases)
    return sorted(names), sorted(phases)


def _choose(
    request: Request,
    session: Session,
    user: User,
    org: str | None,
    protocol: str | None,
    phase: str | None,
    first: str | None,
    last: str | None,
) -> Choice:
    today = request.app.state.runtime.ctx.now().date()
    errors: dict[str, str] = {}
    values = {"org": org or "", "protocol": protocol or "", "phase": phase or "", "from": "", "to": ""}
    organisation_id = user.organisation_id
    organisations: list[tuple[str, str]] = []
    if user.role == Role.admin.value:
        rows = session.execute(
            select(Organisation.id, Organisation.slug, Organisation.name).order_by(Organisation.name)
        )
        by_slug = {slug: (ident, name) for ident, slug, name in rows}
        organisations = [("", "All organisations"), *((slug, name) for slug, (_, name) in by_slug.items())]
        organisation_id = None
        if org:
            if org in by_slug:
                organisation_id = by_slug[org][0]
            else:
                errors["org"] = "No organisation by that name."
                values["org"] = ""
    else:
        values["org"] = ""
    organisation_name, organisation_slug = "All organisations", "all"
    if organisation_id is not None:
        organisation = session.get(Organisation, organisation_id)
        if organisation is not None:  # a user's organisation is kept by a foreign key
            organisation_name, organisation_slug = organisation.name, organisation.slug

    default = metrics.Filters.recent(today)
    dates: dict[str, date] = {}
    for key, text, fallback in (("from", first, default.start), ("to", last, today)):
        dates[key] = fallback
        if text:
            try:
                dates[key] = date.fromisoformat(text.strip())
            except ValueError:
                errors[key] = "Give a date as YYYY-MM-DD."
        values[key] = dates[key].isoformat() if key not in errors else (text or "")
    names, phases = _options(request, session)
    if protocol and protocol not in names:
        errors["protocol"] = "No protocol by that name."
        protocol = values["protocol"] = ""
    if phase and phase not in phases:
        errors["phase"] = "No phase by that name."
        phase = values["phase"] = ""
    filters = default
    if "from" not in errors and "to" not in errors:
        try:
            filters = metrics.Filters.covering(dates["from"], dates["to"])
        except ValueError as error:
            errors["to"] = str(error)[:1].upper() + str(error)[1:] + "."
    filters = metrics.Filters(
        filters.start,
        filters.end,
        organisation_id=organisation_id,
        protocol=protocol if protocol else None,
        phase=phase if phase else None,
    )
    return Choice(
        filters=filters,
        values=values,
        errors=errors,
        organisations=organisations,
        protocols=[("", "All protocols"), *((n, n) for n in names)],
        phases=[("", "All phases"), *((p, p) for p in phases)],
        organisation_name=organisation_name,
        organisation_slug=organisation_slug,
    )


def _week_label(week: date) -> str:
    return f"{week.day} {week:%b}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _duration(hours: float | None) -> str:
    if hours is None:
        return "—"
    minutes = round(hours * 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        whole, rest = divmod(minutes, 60)
        return f"{whole} h {rest} min" if rest else f"{whole} h"
    return f"{hours / 24:.1f} days"


def reason_label(code: str) -> str:
    return REASON_LABELS.get(code, code.replace("_", " ").capitalize())


def _legend(label: str, width: int = 18) -> str:
    """A legend entry short enough for the chart's legend column (the table beside it has it in full)."""
    return label if len(label) <= width else label[: width - 1].rstrip() + "…"


def _charts(board: metrics.Dashboard) -> dict[str, Any]:
    labels = [_week_label(w) for w in board.weeks]
    rate = line_chart(
        "Response rate by week",
        [Series("Answered", [(w, f.response_rate) for w, f in zip(board.weeks, board.by_week, strict=True)])],
        y_min=0,
        y_max=1,
        percent=True,
    )
    severity_series = [(s.capitalize(), v) for s, v in board.severity.items() if any(v)]
    colours = {s.capitalize(): colour for s, colour in SEVERITY_COLOURS.items()}
    severity = bar_chart("Flags raised by week, by severity", labels, severity_series, colours=colours)
    top = list(board.reasons.items())[:MOST_REASONS_CHARTED]
    rest = list(board.reasons.values())[MOST_REASONS_CHARTED:]
    reason_series = [(_legend(reason_label(code)), values) for code, values in top]
    if rest:
        reason_series.append(("Other reasons", [sum(column) for column in zip(*rest, strict=True)]))
    reasons = bar_chart("Flags raised by week, by reason", labels, reason_series)
    contact = line_chart(
        "Median hours from flag to first call attempt, by week",
        [
            Series(
                "Median hours",
                [(w, f.median_hours_to_contact) for w, f in zip(board.weeks, board.by_week, strict=True)],
            )
        ],
        y_min=0,
    )
    deadlines = bar_chart(
        "Flags and missed deadlines by week",
        labels,
        [
            ("Flags raised", [f.flags for f in board.by_week]),
            ("Deadline missed", [f.deadlines_missed for f in board.by_week]),
        ]
        if any(f.flags for f in board.by_week)
        else [],
        colours={"Flags raised": PALETTE[0], "Deadline missed": SEVERITY_COLOURS["urgent"]},
        stacked=False,
    )
    outcome_series = [(_legend(OUTCOME_LABELS.get(o, o)), v) for o, v in board.outcomes.items() if any(v)]
    outcomes = bar_chart("Flags resolved by week, by outcome", labels, outcome_series)
    return {
        "rate": rate,
        "severity": severity,
        "reasons": reasons,
        "contact": contact,
        "deadlines": deadlines,
        "outcomes": outcomes,
    }


def _csv_name(choice: Choice) -> str:
    start, end = choice.filters.start.isoformat(), choice.filters.end.isoformat()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", choice.organisation_slug)  # nothing that could break the header
    return f"checkups-dashboard-{slug}-{start}-to-{end}.csv"


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (figures are never negative)."""
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


# --- routes ---------------------------------------------------------------------------------------------


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/protocols", response_class=HTMLResponse)
    def protocol_list(request: Request, user: LeadUser, session: Db) -> Response:
        entries, orphans = _entries(request, session, user)
        return render(
            request,
            "leads/protocols.html",
            entries=entries,
            orphans=orphans,
            problems=_shown_problems,
        )

    @pages.get("/protocols/{name}", response_class=HTMLResponse)
    def protocol_page(
        request: Request,
        user: LeadUser,
        session: Db,
        name: str,
        start: Annotated[str | None, Query(max_length=20)] = None,
        tz: Annotated[str | None, Query(max_length=64)] = None,
        window_start: Annotated[str | None, Query(max_length=8)] = None,
        window_end: Annotated[str | None, Query(max_length=8)] = None,
        days: Annotated[list[str] | None, Query(max_length=7)] = None,
    ) -> Response:
        files = {path.stem: path for path in protocol_files(_protocols_dir(request))}
        path = files.get(name)
        if path is None:
            raise HTTPException(404, "There is no protocol file by that name in the protocols folder.")
        entries, _ = _entries(request, session, user)
        entry = next(e for e in entries if e.name == name)
        runtime = request.app.state.runtime
        preview = _preview(
            entry.protocol,
            start,
            tz,
            window_start,
            window_end,
            [d for d in (days or []) if d in {v for v, _ in DAYS}],
            runtime.settings.staff_timezone,
            runtime.ctx.now().date(),
        )
        problem_lines = {p.line for p in entry.result.problems}
        return render(
            request,
            "leads/protocol.html",
            entry=entry,
            problems=_shown_problems(entry.result),
            problem_lines=problem_lines,
            lines=_source_lines(path),
            preview=preview,
            day_options=DAYS,
            hhmm=hhmm,
        )

    @pages.get("/protocols/{name}/versions/{version}", response_class=HTMLResponse)
    def protocol_version(request: Request, user: LeadUser, session: Db, name: str, version: str) -> Response:
        row = session.scalars(
            select(ProtocolVersion).where(ProtocolVersion.name == name, ProtocolVersion.version == version)
        ).first()
        if row is None:
            raise HTTPException(404, "No enrolment has run on that protocol version.")
        counts = [
            v
            for v in metrics.enrolments_by_version(session, _scope(user))
            if v.protocol == name and v.version == version
        ]
        return render(
            request, "leads/version.html", row=row, lines=row.source.splitlines(), count=counts[0] if counts else None
        )

    @pages.get("/dashboard", response_class=HTMLResponse)
    def dashboard_page(
        request: Request,
        user: LeadUser,
        session: Db,
        org: Annotated[str | None, Query(max_length=64)] = None,
        protocol: Annotated[str | None, Query(max_length=64)] = None,
        phase: Annotated[str | None, Query(max_length=64)] = None,
        first: Annotated[str | None, Query(alias="from", max_length=20)] = None,
        last: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    ) -> Response:
        choice = _choose(request, session, user, org, protocol, phase, first, last)
        session.commit()  # the report reads a snapshot: no write lock held while it runs
        with reading(request) as snapshot:
            board = metrics.dashboard(snapshot, choice.filters, request.app.state.runtime.ctx.now())
        query = _query(choice)
        return render(
            request,
            "leads/dashboard.html",
            choice=choice,
            board=board,
            charts=_charts(board),
            csv_href="/dashboard.csv" + (f"?{query}" if query else ""),
            csv_metrics=metrics.CSV_METRICS,
            csv_columns=metrics.CSV_COLUMNS,
            week_label=_week_label,
            percent=_percent,
            duration=_duration,
            reason_label=reason_label,
            outcome_labels=OUTCOME_LABELS,
            is_admin=user.role == Role.admin.value,
        )

    @pages.get("/dashboard.csv")
    def dashboard_csv(
        request: Request,
        user: LeadUser,
        session: Db,
        org: Annotated[str | None, Query(max_length=64)] = None,
        protocol: Annotated[str | None, Query(max_length=64)] = None,
        phase: Annotated[str | None, Query(max_length=64)] = None,
        first: Annotated[str | None, Query(alias="from", max_length=20)] = None,
        last: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    ) -> Response:
        choice = _choose(request, session, user, org, protocol, phase, first, last)
        if choice.errors:
            detail = "; ".join(f"{k}: {v}" for k, v in choice.errors.items())
            return Response(detail + "\n", status_code=400, media_type="text/plain; charset=utf-8")
        session.commit()  # the report reads a snapshot: no write lock held while it runs
        with reading(request) as snapshot:
            board = metrics.dashboard(snapshot, choice.filters, request.app.state.runtime.ctx.now())
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(metrics.CSV_COLUMNS)
        writer.writerows([_cell(value) for value in row] for row in metrics.csv_rows(board))
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{_csv_name(choice)}"'},
        )

    return pages


def _query(choice: Choice) -> str:
    """The filters in use (after any mistake was set aside) as URL parameters, for the CSV link."""
    used = {
        "org": choice.values["org"],
        "protocol": choice.filters.protocol or "",
        "phase": choice.filters.phase or "",
        "from": choice.filters.start.isoformat(),
        "to": choice.filters.end.isoformat(),
    }
    return urlencode({k: v for k, v in used.items() if v})


__all__ = ["router"]
