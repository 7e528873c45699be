"""Reading an enrolment CSV: every kind of bad input gets a message saying where and why."""

from __future__ import annotations

import csv
import io
from datetime import date, time

import pytest

from checkups.engine.csv_import import (
    COLUMN_NAMES,
    MAX_BYTES,
    MAX_ROWS,
    Problem,
    error_report,
    merge_errors,
    parse_channels,
    parse_date,
    parse_days,
    parse_time,
    read_csv,
    request_from_fields,
    template_csv,
)

HEADER = template_csv()
ROW = "A-1,Sam,+44 7700 900101,Europe/London,,,,,,standard-5y,2026-03-02,J. Smith,written,sms voice,\r\n"


def row(**values: str) -> str:
    fields = dict(zip(COLUMN_NAMES, next(csv.reader([ROW.strip()])), strict=True))
    fields.update(values)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([fields[c] for c in COLUMN_NAMES])
    return out.getvalue()


def only_problem(data: bytes) -> Problem:
    parsed = read_csv(data, "org-a")
    assert not parsed.ok
    assert len(parsed.problems) == 1, parsed.problems
    assert parsed.rows == [] or parsed.problems[0].row is not None
    return parsed.problems[0]


# --- values ---------------------------------------------------------------------------------------------------


def test_dates_are_iso_only_because_02_03_is_ambiguous() -> None:
    assert parse_date(" 2026-03-02 ") == date(2026, 3, 2)
    with pytest.raises(ValueError, match="expected a date as YYYY-MM-DD"):
        parse_date("02/03/2026")
    with pytest.raises(ValueError, match="not a date in the calendar"):
        parse_date("2026-02-30")


def test_times_are_hh_mm_and_24_00_ends_the_day() -> None:
    assert parse_time("9:30") == time(9, 30)
    assert parse_time("24:00") == time.max
    for bad in ("25:00", "10:60", "10", "ten", "10:00:00"):
        with pytest.raises(ValueError, match="expected a time as HH:MM"):
            parse_time(bad)


def test_days_are_short_or_full_names_in_any_case_and_separator() -> None:
    assert parse_days("mon tue") == ("mon", "tue")
    assert parse_days("Monday, WEDNESDAY;fri") == ("mon", "wed", "fri")
    assert parse_days("  ") is None
    with pytest.raises(ValueError, match="unknown day 'sunflower'"):
        parse_days("mon sunflower")
    with pytest.raises(ValueError, match="lists mon twice"):
        parse_days("mon monday")


def test_consent_channels() -> None:
    assert parse_channels("SMS, voice") == ("sms", "voice")
    with pytest.raises(ValueError, match="required"):
        parse_channels("")
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        parse_channels("sms fax")


def test_fields_become_a_request_and_blanks_take_the_protocols_defaults() -> None:
    values = dict(zip(COLUMN_NAMES, next(csv.reader([ROW.strip()])), strict=True))
    request, errors = request_from_fields("org-a", values)
    assert errors == {}
    assert request.organisation == "org-a"
    assert request.anchor_date == date(2026, 3, 2)
    assert request.consent_channels == ("sms", "voice")
    assert request.window_start is None
    assert request.window_days is None
    assert request.language is None
    assert request.overdose_risk is None


def test_every_unreadable_field_is_reported_under_its_own_name() -> None:
    _, errors = request_from_fields(
        "org-a",
        {
            "client_ref": "",
            "anchor_date": "tomorrow",
            "window_end": "7pm",
            "window_days": "weekdays",
            "alias": "x" * 201,
        },
    )
    assert set(errors) == {
        "client_ref",
        "phone",
        "timezone",
        "protocol",
        "anchor_date",
        "window_end",
        "window_days",
        "consent_by",
        "consent_method",
        "consent_channels",
        "alias",
    }
    assert errors["client_ref"].startswith("required: your own reference")
    assert errors["alias"] == "too long (201 characters; at most 200)"


def test_engine_errors_go_beside_the_field_a_person_changes() -> None:
    assert merge_errors({}, {"window": "end 09:00 must be after start 18:00"}) == {
        "window_end": "end 09:00 must be after start 18:00"
    }
    # a window cannot be judged while one of its times is unreadable
    assert merge_errors({"window_start": "expected a time"}, {"window": "end ..."}) == {
        "window_start": "expected a time"
    }
    # the text's own message wins over the engine's for the same field
    assert merge_errors({"phone": "required"}, {"phone": "a phone number is required"}) == {"phone": "required"}
    assert merge_errors({}, {"organisation": "unknown organisation 'x'"}) == {"": "unknown organisation 'x'"}


# --- the file ------------------------------------------------------------------------------------------------


def test_a_good_file_reads_every_row() -> None:
    parsed = read_csv((HEADER + ROW + row(client_ref="A-2", phone="+447700900102")).encode(), "org-a")
    assert parsed.ok
    assert [r.number for r in parsed.rows] == [2, 3]
    assert all(r.good for r in parsed.rows)
    assert parsed.text.startswith("client_ref,")


def test_the_template_is_the_documented_header() -> None:
    assert next(csv.reader([HEADER])) == list(COLUMN_NAMES)


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        (b"", None, "the file is empty"),
        (b"\r\n  \r\n", None, "the file is empty"),
        (HEADER.encode(), None, "a header but no rows"),
        ((HEADER + ROW).encode("utf-16"), None, "UTF-16"),
        (b"PK\x03\x04\x14\x00 a zip", None, "spreadsheet workbook, not a CSV file"),
        (b"\xd0\xcf\x11\xe0 old excel", None, "spreadsheet workbook"),
        ((HEADER + "A-1,Zoë\r\n").encode("cp1252"), 2, "byte 7 of this line (0xEB) is not UTF-8"),
        ((HEADER + "A-1\x00,x\r\n").encode(), 2, "NUL character"),
        (b"name,number\r\nSam,1\r\n", 1, "the first line must be the header"),
        ((HEADER + 'A-1,"Sam,+447700900101\r\nA-2\r\n').encode(), 2, "a quoted value is never closed"),
        ((HEADER + 'A-1,"Sam"x,+447700900101\r\n').encode(), 2, 'a quote (") in the middle of a value'),
    ],
)
def test_unreadable_files_say_where_and_why(data: bytes, where: int | None, message: str) -> None:
    problem = only_problem(data)
    assert problem.row == where
    assert message in problem.message


def test_a_file_over_the_size_limit_is_refused_before_reading() -> None:
    problem = only_problem(HEADER.encode() + b"x" * MAX_BYTES)
    assert f"the limit is {MAX_BYTES // 1024} KB" in problem.message


def test_a_file_over_the_row_limit_is_refused() -> None:
    rows = "".join(row(client_ref=f"A-{n}") for n in range(MAX_ROWS + 1))
    parsed = read_csv((HEADER + rows).encode(), "org-a")
    assert not parsed.ok
    assert f"more than {MAX_ROWS} rows" in parsed.problems[0].message
    assert parsed.problems[0].row == MAX_ROWS + 2
    assert parsed.good_rows == []


def test_header_problems_are_all_reported_at_once() -> None:
    parsed = read_csv(b"client_ref,Phone,notes,phone,,protocol\r\nA-1,1,2,3,4,5\r\n", "org-a")
    messages = [str(p) for p in parsed.problems]
    assert "row 1, column notes: unknown column (column 3); the columns are: client_ref, alias," in messages[0]
    assert messages[1] == "row 1, column phone: appears twice (columns 2 and 4)"
    assert messages[2] == "row 1: column 5 of the header has no name"
    assert messages[3] == (
        "row 1: missing required columns: timezone, anchor_date, consent_by, consent_method, consent_channels"
    )
    assert parsed.rows == []


def test_header_names_are_forgiving_about_case_spaces_and_order() -> None:
    names = list(reversed(COLUMN_NAMES))
    header = ",".join(n.replace("_", " ").title() for n in names) + "\r\n"
    values = list(reversed(next(csv.reader([ROW.strip()]))))
    parsed = read_csv((header + ",".join(values) + "\r\n").encode(), "org-a")
    assert parsed.ok
    assert parsed.rows[0].values["client_ref"] == "A-1"
    assert parsed.rows[0].good


def test_excel_byte_order_mark_and_semicolons_are_understood() -> None:
    semicolons = (HEADER + ROW).replace(",", ";")
    parsed = read_csv(b"\xef\xbb\xbf" + semicolons.encode(), "org-a")
    assert parsed.ok
    assert parsed.rows[0].good
    assert parsed.rows[0].values["client_ref"] == "A-1"


def test_blank_lines_and_empty_spreadsheet_rows_are_skipped_and_rows_keep_their_line_numbers() -> None:
    data = (
        HEADER
        + "\r\n"
        + ROW
        + ",,,,,,,,,,,,,,\r\n"
        + row(client_ref="A-2", alias="two\r\nlines")
        + row(client_ref="A-3")
    )
    parsed = read_csv(data.encode(), "org-a")
    assert parsed.ok
    # A-2's alias spans two lines: a row is numbered by the line it ends on
    assert [(r.client_ref, r.number) for r in parsed.rows] == [("A-1", 3), ("A-2", 6), ("A-3", 7)]


def test_a_row_with_the_wrong_number_of_values_is_one_bad_row() -> None:
    parsed = read_csv((HEADER + "A-1,Sam\r\n" + row(client_ref="A-2")).encode(), "org-a")
    assert parsed.ok
    bad, good = parsed.rows
    assert not bad.good
    assert str(bad.problems[0]) == "row 2: has 2 values but the header has 15 columns (a missing or extra comma?)"
    assert good.good
    assert parsed.good_rows == [good]


def test_the_same_client_twice_in_a_file_is_an_error_on_the_second() -> None:
    parsed = read_csv((HEADER + ROW + row(phone="+447700900109")).encode(), "org-a")
    first, second = parsed.rows
    assert first.good
    assert [str(p) for p in second.problems] == ["row 3, column client_ref: 'A-1' is also on row 2 of this file"]


def test_each_bad_cell_is_reported_with_its_row_and_column() -> None:
    data = HEADER + row(client_ref="A-9", anchor_date="2/3/26", window_days="mon xyz", consent_channels="pigeon")
    [bad] = read_csv(data.encode(), "org-a").rows
    assert {(p.row, p.column) for p in bad.problems} == {
        (2, "anchor_date"),
        (2, "window_days"),
        (2, "consent_channels"),
    }


def test_the_error_report_lists_every_problem_and_defuses_formulas() -> None:
    data = HEADER + row(client_ref="=HYPERLINK(1)", anchor_date="soon") + ROW
    parsed = read_csv(data.encode(), "org-a")
    report = error_report(parsed.bad_rows)
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == ["row", "client_ref", "column", "message"]
    assert lines[1][:3] == ["2", "'=HYPERLINK(1)", "anchor_date"]
    assert len(lines) == 2
    whole = error_report([], [Problem(None, None, "the file is empty")])
    assert list(csv.reader(io.StringIO(whole)))[1] == ["", "", "", "the file is empty"]
