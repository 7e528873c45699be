"""Enrolments from a CSV file: the documented columns, the parsing, and every problem with its row and column.

A treatment service uploads a file; a preview shows each row's problems before anything is stored; then the
good rows are enrolled one by one through :func:`~checkups.engine.enrolment.enrol` (idempotent on
organisation + client reference, so the same file twice changes nothing). The enrolment form uses the same
field names and the same parsing (:func:`request_from_fields`), so a person sees the same messages either way.

Everything here is pure except :func:`assess_rows`, which asks the engine (read only) what each row would do.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time

from sqlalchemy.orm import Session

from ..protocols.schema import Weekday
from .context import Context
from .enrolment import CHANNELS, CONSENT_METHODS, OVERDOSE_RISKS, EnrolmentRequest, assess

# A file larger than this is refused before it is read: split it. About 1,000 rows of ordinary length.
MAX_BYTES = 512 * 1024
MAX_ROWS = 1000
MAX_CELL = 200  # characters in one value (the longest column, consent_by, is stored in 200)


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    meaning: str
    example: str


COLUMNS: tuple[Column, ...] = (
    Column("client_ref", True, "Your own reference for this client; unique in your organisation.", "A-1001"),
    Column("alias", False, "First name or alias that volunteers see (at most 60 characters).", "Sam"),
    Column("phone", True, "Mobile number, with + and the country code (or a UK number).", "+44 7700 900123"),
    Column("timezone", True, "Where they live, as an IANA time zone.", "Europe/London"),
    Column("language", False, "Language code; blank: the protocol's first language.", "en"),
    Column("channel", False, "sms or voice; blank: the protocol's preferred channel.", "sms"),
    Column("window_start", False, "Earliest time to message them, HH:MM; blank: the protocol's.", "10:00"),
    Column("window_end", False, "Latest time to message them, HH:MM; blank: the protocol's.", "19:00"),
    Column(
        "window_days", False, "Days they may be messaged, separated by spaces; blank: the protocol's.", "mon tue wed"
    ),
    Column("protocol", True, "The check-up protocol's name.", "standard-5y"),
    Column("anchor_date", True, "Discharge date, as YYYY-MM-DD; the schedule counts from it.", "2026-03-02"),
    Column("consent_by", True, "Who recorded the consent.", "J. Smith"),
    Column("consent_method", True, "How consent was given: written, verbal or electronic.", "written"),
    Column("consent_channels", True, "What they agreed to be contacted by: sms and/or voice.", "sms voice"),
    Column(
        "overdose_risk",
        False,
        "Blank, or one of opioids, detox, residential, prison, opioid_treatment_stopped.",
        "opioids",
    ),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
_BY_NAME = {c.name: c for c in COLUMNS}

# The engine reports a bad window as a whole; the end is the field a person changes to fix it.
_ENGINE_KEY_TO_COLUMN = {"window": "window_end", "organisation": None, "consent_at": None}

_SEPARATORS = re.compile(r"[\s,;|/+]+")
_FULL_DAYS = {d: d[:3] for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class Problem:
    """One thing wrong, and where: ``row`` is the line in the file (the header is row 1; None: the whole
    file), ``column`` the column's name (None: the whole row or file)."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass
class Row:
    number: int  # the line in the file where the row ends (a spreadsheet's row number for one-line rows)
    values: dict[str, str]
    request: EnrolmentRequest | None
    problems: list[Problem] = field(default_factory=list)
    outcome: str = ""  # after assess_rows: new, already_enrolled, conflict, invalid

    @property
    def good(self) -> bool:
        return not self.problems and self.request is not None

    @property
    def client_ref(self) -> str:
        return self.values.get("client_ref", "")


@dataclass
class CsvFile:
    """A parsed upload. With file problems nothing in it can be imported; otherwise each row stands alone."""

    problems: list[Problem] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    text: str = ""  # the decoded text (what an import reads again)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def good_rows(self) -> list[Row]:
        return [r for r in self.rows if r.good] if self.ok else []

    @property
    def bad_rows(self) -> list[Row]:
        return [r for r in self.rows if not r.good]


# --- values ---------------------------------------------------------------------------------------------------


def parse_date(text: str) -> date:
    """A date as YYYY-MM-DD; ValueError with a message a person can act on."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date in the calendar") from None
    raise ValueError(f"expected a date as YYYY-MM-DD (e.g. 2026-03-02), got {value!r}")


def parse_time(text: str) -> time:
    """A time of day as HH:MM (24:00 is the end of the day); ValueError otherwise."""
    value = text.strip()
    match = _HHMM.fullmatch(value)
    if match:
        hours, minutes = int(match.group(1)), int(match.group(2))
        if hours == 24 and minutes == 0:
            return time.max
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError(f"expected a time as HH:MM (e.g. 10:00), got {value!r}")


def parse_days(text: str) -> tuple[str, ...] | None:
    """Weekdays separated by spaces or commas (``mon tue`` or ``Monday, Tuesday``); None when blank."""
    words = [w.lower() for w in _SEPARATORS.split(text.strip()) if w]
    if not words:
        return None
    days: list[str] = []
    known = {d.value for d in Weekday}
    for word in words:
        day = _FULL_DAYS.get(word, word)
        if day not in known:
            raise ValueError(f"unknown day {word!r}: use mon tue wed thu fri sat sun")
        if day in days:
            raise ValueError(f"lists {day} twice")
        days.append(day)
    return tuple(days)


def parse_channels(text: str) -> tuple[str, ...]:
    words = [w.lower() for w in _SEPARATORS.split(text.strip()) if w]
    if not words:
        raise ValueError("required: sms and/or voice, what the person agreed to be contacted by")
    for word in words:
        if word not in CHANNELS:
            raise ValueError(f"unknown channel {word!r}: use sms and/or voice")
    return tuple(dict.fromkeys(words))


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def request_from_fields(organisation: str, values: Mapping[str, str]) -> tuple[EnrolmentRequest, dict[str, str]]:
    """An enrolment request from text fields named as the CSV columns, and the problems found in the text.

    Required fields left blank and values that cannot be read (dates, times, days, channels) are reported
    here, each under its field; the engine checks the rest (phone, time zone, protocol, language, ...).
    The request always comes back, with stand-ins where a value could not be read, so that the engine can
    still report the other fields: with any problem here it must not be enrolled.
    """
    errors: dict[str, str] = {}
    text = {name: (values.get(name) or "").strip() for name in COLUMN_NAMES}
    for name in REQUIRED:
        if not text[name] and name != "consent_channels":
            meaning = _BY_NAME[name].meaning.rstrip(".")
            errors[name] = f"required: {meaning[0].lower()}{meaning[1:]}"
    for name, value in text.items():
        if len(value) > MAX_CELL:
            errors[name] = f"too long ({len(value)} characters; at most {MAX_CELL})"

    def read(name: str, parse, default):  # type: ignore[no-untyped-def]
        if name in errors or not text[name]:
            return default
        try:
            return parse(text[name])
        except ValueError as error:
            errors[name] = str(error)
            return default

    anchor = read("anchor_date", parse_date, date(2000, 1, 1))
    window_start = read("window_start", parse_time, None)
    window_end = read("window_end", parse_time, None)
    window_days = read("window_days", parse_days, None)
    try:
        consent_channels = parse_channels(text["consent_channels"])
    except ValueError as error:
        errors.setdefault("consent_channels", str(error))
        consent_channels = ()
    channel = text["channel"].lower() or None
    overdose_risk = text["overdose_risk"].lower() or None
    request = EnrolmentRequest(
        organisation=organisation,
        client_ref=text["client_ref"],
        phone=text["phone"],
        timezone=text["timezone"],
        anchor_date=anchor,
        protocol=text["protocol"],
        consent_by=text["consent_by"],
        consent_method=text["consent_method"].lower(),
        consent_channels=consent_channels,
        language=_blank(text["language"]),
        channel=channel,
        window_start=window_start,
        window_end=window_end,
        window_days=window_days,
        overdose_risk=overdose_risk,
        alias=_blank(text["alias"]),
    )
    return request, errors


def column_for(engine_key: str) -> str | None:
    """The field or column an engine error belongs beside."""
    if engine_key in _ENGINE_KEY_TO_COLUMN:
        return _ENGINE_KEY_TO_COLUMN[engine_key]
    return engine_key if engine_key in _BY_NAME else None


def merge_errors(parsed: Mapping[str, str], engine: Mapping[str, str]) -> dict[str, str]:
    """Field errors from the text (``parsed``) and from the engine, by field; the text's win for a field.

    An engine error that belongs to no field (the organisation) is kept under ``""``.
    """
    merged: dict[str, str] = {}
    for key, message in engine.items():
        column = column_for(key)
        if key == "window" and ("window_start" in parsed or "window_end" in parsed):
            continue  # the window cannot be judged until both of its times can be read
        if column is None:
            merged[""] = message if key == "organisation" else f"{key}: {message}"
        else:
            merged[column] = message
    merged.update(parsed)
    return merged


# --- the file -------------------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str | None, list[Problem]]:
    if len(data) > MAX_BYTES:
        return None, [
            Problem(
                None,
                None,
                f"the file is {len(data) // 1024} KB; the limit is {MAX_BYTES // 1024} KB "
                f"(about {MAX_ROWS} rows): split it into smaller files",
            )
        ]
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        return None, [
            Problem(
                None,
                None,
                "this is a spreadsheet workbook, not a CSV file: in your spreadsheet choose "
                "Save As, then 'CSV UTF-8 (comma delimited)'",
            )
        ]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [
            Problem(
                None,
                None,
                "the file is in UTF-16 ('Unicode text'), not UTF-8: save it as 'CSV UTF-8 (comma delimited)'",
            )
        ]
    # Excel's "CSV UTF-8" starts the file with a byte order mark: that one is fine, and dropped.
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start]
        return None, [
            Problem(
                line,
                None,
                f"byte {column} of this line (0x{byte:02X}) is not UTF-8 text: save the file as "
                "'CSV UTF-8 (comma delimited)'",
            )
        ]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        return None, [Problem(line, None, "this line holds a NUL character: the file is not a text CSV file")]
    if not text.strip():
        return None, [Problem(None, None, "the file is empty: it needs the header line and at least one row")]
    return text, []


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _delimiter(first_line: str) -> str:
    """The separator the header uses: the one that splits it into the most known column names."""

    def known(delimiter: str) -> int:
        cells = next(csv.reader([first_line], delimiter=delimiter), [])
        return sum(_normalise_header(c) in _BY_NAME for c in cells)

    return max(_DELIMITERS, key=known)


def _header_problems(header: list[str], line: int) -> list[Problem]:
    problems: list[Problem] = []
    names = [_normalise_header(h) for h in header]
    if not any(n in _BY_NAME for n in names):
        return [
            Problem(
                line,
                None,
                "the first line must be the header with the column names (client_ref, phone, timezone, ...); "
                "download the template",
            )
        ]
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            problems.append(Problem(line, None, f"column {position} of the header has no name"))
        elif name not in _BY_NAME:
            problems.append(
                Problem(
                    line,
                    header[position - 1].strip(),
                    f"unknown column (column {position}); the columns are: " + ", ".join(COLUMN_NAMES),
                )
            )
        elif name in seen:
            problems.append(Problem(line, name, f"appears twice (columns {seen[name]} and {position})"))
        else:
            seen[name] = position
    missing = [n for n in REQUIRED if n not in seen]
    if missing:
        problems.append(
            Problem(line, None, f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        )
    return problems


def read_csv(data: bytes, organisation: str) -> CsvFile:
    """Parse an uploaded file into rows of enrolment requests, with every problem found in the text.

    Nothing is stored and the engine is not asked anything: :func:`assess_rows` does that.
    """
    text, problems = _decode(data)
    if text is None:
        return CsvFile(problems)
    parsed = CsvFile(text=text)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True)
    start = 1  # the line where the record being read starts
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            start = reader.line_num + 1
            header = next(reader, None)  # blank lines before the header
        if header is None:
            return CsvFile([Problem(None, None, "the file is empty: it needs the header line and at least one row")])
        parsed.problems = _header_problems(header, reader.line_num)
        if parsed.problems:
            return parsed
        names = [_normalise_header(h) for h in header]
        first_row_of: dict[str, int] = {}
        start = reader.line_num + 1
        for record in reader:
            number, start = reader.line_num, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # a blank line, or a spreadsheet's empty row of commas
            if len(parsed.rows) >= MAX_ROWS:
                parsed.problems.append(
                    Problem(
                        number,
                        None,
                        f"the file has more than {MAX_ROWS} rows: split it into files of at most {MAX_ROWS} rows",
                    )
                )
                return parsed
            parsed.rows.append(_row(number, names, record, organisation, first_row_of))
    except csv.Error as error:
        parsed.problems.append(Problem(start, None, _csv_error(str(error))))
        return parsed
    if not parsed.rows and not parsed.problems:
        parsed.problems.append(Problem(None, None, "the file has a header but no rows"))
    return parsed


def _csv_error(message: str) -> str:
    if "field larger than field limit" in message:
        return 'a value is far too long (is a quote (") left open?)'
    if "unexpected end of data" in message or "EOF" in message:
        return 'a quoted value is never closed: a quote (") opens it and the file ends'
    if "expected" in message and "after" in message:
        return 'a quote (") in the middle of a value: write it as two quotes ("") inside a quoted value'
    return message


def _row(number: int, names: list[str], record: list[str], organisation: str, first_row_of: dict[str, int]) -> Row:
    if len(record) != len(names):
        values = {name: record[i].strip() if i < len(record) else "" for i, name in enumerate(names)}
        problem = Problem(
            number,
            None,
            f"has {len(record)} values but the header has {len(names)} columns (a missing or extra comma?)",
        )
        return Row(number, values, None, [problem], outcome="invalid")
    values = {name: cell.strip() for name, cell in zip(names, record, strict=True)}
    request, errors = request_from_fields(organisation, values)
    problems = [Problem(number, column, message) for column, message in errors.items()]
    ref = values.get("client_ref", "")
    if ref and "client_ref" not in errors:
        if ref in first_row_of:
            problems.append(Problem(number, "client_ref", f"{ref!r} is also on row {first_row_of[ref]} of this file"))
        else:
            first_row_of[ref] = number
    return Row(number, values, request, problems, outcome="invalid" if problems else "")


def assess_rows(ctx: Context, session: Session, parsed: CsvFile) -> CsvFile:
    """Ask the engine what enrolling each row would do (read only), adding its problems to the row.

    A row with problems in its text is still checked, so that one pass reports every field to fix.
    """
    for row in parsed.rows:
        if row.request is None:
            continue
        assessment = assess(ctx, session, row.request)
        own = {p.column: p.message for p in row.problems if p.column}
        if row.problems or assessment.outcome == "invalid":
            engine = merge_errors(own, assessment.errors)
            row.problems.extend(
                Problem(row.number, column or None, message) for column, message in engine.items() if column not in own
            )
            row.problems.sort(key=lambda p: _column_order(p.column))
            row.outcome = "invalid"
        elif assessment.outcome == "conflict":
            row.problems.append(Problem(row.number, "client_ref", assessment.reason or "enrolled differently"))
            row.outcome = "conflict"
        else:
            row.outcome = assessment.outcome
    return parsed


def _column_order(column: str | None) -> int:
    return COLUMN_NAMES.index(column) if column in _BY_NAME else -1


# --- files given back -----------------------------------------------------------------------------------------


def template_csv() -> str:
    """The header line of an upload, in the documented order."""
    return ",".join(COLUMN_NAMES) + "\r\n"


def _cell(value: str) -> str:
    # A value starting like a formula is run by spreadsheets when the report is opened: make it text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def error_report(rows: Iterable[Row], file_problems: Iterable[Problem] = ()) -> str:
    """The problems of the bad rows as CSV: row, client_ref, column, message (one line per problem)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", "client_ref", "column", "message"])
    for problem in file_problems:
        writer.writerow([problem.row or "", "", _cell(problem.column or ""), _cell(problem.message)])
    for row in rows:
        for problem in row.problems:
            writer.writerow([row.number, _cell(row.client_ref), _cell(problem.column or ""), _cell(problem.message)])
    return out.getvalue()


__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "CONSENT_METHODS",
    "MAX_BYTES",
    "MAX_ROWS",
    "OVERDOSE_RISKS",
    "Column",
    "CsvFile",
    "Problem",
    "Row",
    "assess_rows",
    "column_for",
    "error_report",
    "merge_errors",
    "parse_channels",
    "parse_date",
    "parse_days",
    "parse_time",
    "read_csv",
    "request_from_fields",
    "template_csv",
]
