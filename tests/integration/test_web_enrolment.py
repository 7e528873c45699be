"""The treatment services' pages on both stores: the enrolment form, CSV preview and import, the participant
list and page with its actions, and who may see what."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from checkups.engine.csv_import import template_csv
from checkups.engine.enrolment import withdraw
from checkups.models import AuditEvent, Checkup, Enrolment, Flag, InboundMessage, Participant
from tests.integration.conftest import World, csrf_of

StaffClient = Callable[..., TestClient]


PHONE = "+447700900123"

FORM = {
    "client_ref": "A-1001",
    "alias": "Sam",
    "phone": "+44 7700 900123",
    "timezone": "Europe/London",
    "language": "",
    "protocol": "standard-5y",
    "anchor_date": "2026-01-05",
    "channel": "",
    "window_start": "",
    "window_end": "",
    "consent_by": "J. Smith",
    "consent_method": "written",
    "consent_channels": ["sms", "voice"],
    "overdose_risk": "opioids",
}

HEADER = template_csv()
GOOD_1 = "A-1,Sam,+44 7700 900101,Europe/London,,,,,,standard-5y,2026-01-05,J. Smith,written,sms voice,\r\n"
GOOD_2 = (
    "A-2,,+1 212 555 0142,America/New_York,,,11:00,17:00,mon wed fri,standard-5y,2026-01-05,J. Smith,verbal,sms,\r\n"
)
BAD_PHONE = "A-3,,12,Europe/London,,,,,,standard-5y,2026-01-05,J. Smith,written,sms,\r\n"
BAD_MANY = "A-4,,+447700900104,Mars/Olympus,,,25:00,,,nope,03/01/2026,,telepathy,fax,\r\n"
MIXED = (HEADER + GOOD_1 + BAD_PHONE + GOOD_2 + BAD_MANY).encode()


def reply_and_flag(world: World, participant_id: int, severity: str = "high") -> None:
    """A reply received an hour ago, and the open flag it raised."""
    now = world.clock.now()
    vault = world.ctx.vault
    with world.factory() as session, session.begin():
        participant = session.get(Participant, participant_id)
        assert participant is not None
        session.add(
            InboundMessage(
                provider_sid=f"SM{participant_id}",
                participant_id=participant_id,
                from_hash=participant.phone_hash,
                from_cipher=participant.phone_cipher,
                body_cipher=vault.encrypt("<b>secret words</b>"),
                channel="sms",
                received_at=now - timedelta(hours=1),
                state="processed",
            )
        )
        session.add(
            Flag(
                participant_id=participant_id,
                organisation_id=participant.organisation_id,
                severity=severity,
                reasons=[],
                due_by=now + timedelta(hours=4),
                state="open",
                created_at=now,
                updated_at=now,
            )
        )


def post_form(client: TestClient, path: str, data: dict[str, object], page: str | None = None, **kwargs: object):
    token = csrf_of(page or client.get("/enrol").text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False, **kwargs)


def error_beside(html: str, name: str) -> str:
    match = re.search(rf'<p class="error" id="e-{name}">([^<]*)</p>', html)
    assert match, f"no error beside {name}"
    return match.group(1)


def upload(client: TestClient, data: bytes, name: str = "clients.csv"):
    token = csrf_of(client.get("/enrol/csv").text)
    return client.post(
        "/enrol/csv",
        data={"csrf_token": token},
        files={"file": (name, data, "text/csv")},
        follow_redirects=False,
    )


def signed_upload(html: str) -> str:
    match = re.search(r'name="upload" value="([^"]+)"', html)
    assert match, "no signed upload on the page"
    return match.group(1)


# --- the form ---------------------------------------------------------------------------------------------------


def test_the_form_enrols_and_shows_the_first_checkup_in_their_own_time(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    response = post_form(enroller, "/enrol", FORM)
    assert response.status_code == 200, response.text
    assert "<h1>Enrolled</h1>" in response.text
    with world.factory() as session:
        enrolment = session.scalars(select(Enrolment)).one()
        first = session.scalars(select(Checkup)).one()
        assert enrolment.overdose_risk == "opioids"
        assert enrolment.consent_channels == "sms,voice"
        assert enrolment.participant.client_ref == "A-1001"
    # Europe/London in January is GMT: the first check-up is shown as their local time, with the zone
    assert f"{first.due_at:%a %d %b %Y %H:%M} GMT (their time)" in response.text
    again = post_form(enroller, "/enrol", FORM)
    assert again.status_code == 200
    assert "Already enrolled" in again.text
    assert "nothing changed" in again.text
    assert world.count(Enrolment) == 1


def test_local_time_is_the_persons_not_the_services(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    response = post_form(enroller, "/enrol", {**FORM, "phone": "+1 212 555 0142", "timezone": "America/New_York"})
    assert response.status_code == 200, response.text
    with world.factory() as session:
        first = session.scalars(select(Checkup)).one()
    local = first.due_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert f"{local:%a %d %b %Y %H:%M} EST (their time)" in response.text


BAD_FIELDS = [
    ("client_ref", "", "required"),
    ("phone", "12", "not a valid phone number"),
    ("phone", "not a number", "not a phone number"),
    ("timezone", "Mars/Olympus", "unknown time zone"),
    ("timezone", "", "required"),
    ("protocol", "nope", "no valid protocol named"),
    ("anchor_date", "03/01/2026", "expected a date as YYYY-MM-DD"),
    ("anchor_date", "2031-01-01", "more than a year ahead"),
    ("window_start", "25:00", "expected a time as HH:MM"),
    ("consent_by", "", "required"),
    ("consent_method", "", "required: how consent was given"),
    ("consent_method", "telepathy", "must be one of written, verbal, electronic"),
    ("consent_channels", [], "sms and/or voice"),
    ("language", "xx", "is not a language of standard-5y"),
    ("alias", "x" * 61, "at most 60 characters"),
]


def test_each_bad_field_is_told_beside_it_values_are_kept_and_nothing_is_stored(
    world: World, staff_client: StaffClient
) -> None:
    enroller = staff_client("enroller")
    page = enroller.get("/enrol").text
    for field, value, message in BAD_FIELDS:
        response = post_form(enroller, "/enrol", {**FORM, field: value}, page=page)
        assert response.status_code == 422, field
        assert message in error_beside(response.text, field), (field, value)
        assert response.text.count('class="error"') == 1, (field, value)  # only that field
        assert "Nothing was saved" in response.text
        assert field == "consent_by" or 'value="J. Smith"' in response.text  # what was typed is kept
    assert world.count(Enrolment) == 0
    assert world.count(Participant) == 0


def test_a_window_that_ends_before_it_starts_is_told_beside_its_end(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    response = post_form(enroller, "/enrol", {**FORM, "window_start": "18:00", "window_end": "09:00"})
    assert response.status_code == 422
    assert "must be after start 18:00" in error_beside(response.text, "window_end")
    assert 'value="18:00"' in response.text
    # a channel without consent for it
    response = post_form(enroller, "/enrol", {**FORM, "channel": "voice", "consent_channels": ["sms"]})
    assert "consent does not cover voice" in error_beside(response.text, "channel")
    assert world.count(Enrolment) == 0


def test_every_problem_is_reported_at_once(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    bad = {**FORM, "phone": "12", "timezone": "Nowhere/Town", "anchor_date": "soon", "consent_channels": []}
    response = post_form(enroller, "/enrol", bad)
    for name in ("phone", "timezone", "anchor_date", "consent_channels"):
        error_beside(response.text, name)
    assert 'value="Nowhere/Town"' in response.text


def test_a_conflicting_enrolment_is_refused_with_the_reason(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    assert post_form(enroller, "/enrol", FORM).status_code == 200
    response = post_form(enroller, "/enrol", {**FORM, "protocol": "tcc-12m", "anchor_date": "2026-01-02"})
    assert response.status_code == 409
    assert "already enrolled" in response.text
    assert "different protocol, anchor date" in response.text
    assert world.count(Enrolment) == 1


def test_the_form_needs_its_csrf_token_and_an_enroller(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    enroller.get("/enrol")
    assert enroller.post("/enrol", data=FORM).status_code == 403
    assert world.count(Enrolment) == 0
    for role in ("volunteer", "lead"):
        other = staff_client(role)
        assert other.get("/enrol").status_code == 403
        assert other.get("/enrol/csv").status_code == 403
    admin = staff_client("admin", org=None)
    page = admin.get("/enrol")
    assert page.status_code == 200
    assert 'name="organisation"' in page.text  # an admin of all organisations says which one
    response = post_form(admin, "/enrol", {**FORM, "organisation": "org-b"}, page=page.text)
    assert response.status_code == 200, response.text
    with world.factory() as session:
        assert session.scalars(select(Participant)).one().organisation.slug == "org-b"


def test_signed_out_goes_to_sign_in(client: TestClient) -> None:
    for path in ("/enrol", "/enrol/csv", "/participants", "/participants/1"):
        assert client.get(path, follow_redirects=False).headers["location"].startswith("/login?next=")


# --- CSV --------------------------------------------------------------------------------------------------------


def test_the_template_names_every_column(staff_client: StaffClient) -> None:
    response = staff_client("enroller").get("/enrol/csv/template.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.startswith("client_ref,alias,phone,timezone,")


def test_a_mixed_file_previews_every_error_and_stores_nothing(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    response = upload(enroller, MIXED)
    assert response.status_code == 200, response.text
    html = response.text
    assert "Nothing has been saved yet" in html
    assert "2 good (2 new, 0 already enrolled), 2 with problems" in html
    assert "Import 2 good rows" in html
    for expected in [
        "<code>phone</code>: not a valid phone number",
        "<code>timezone</code>: unknown time zone",
        "<code>window_start</code>: expected a time as HH:MM",
        "<code>protocol</code>: no valid protocol named",
        "<code>anchor_date</code>: expected a date as YYYY-MM-DD",
        "<code>consent_by</code>: required",
        "<code>consent_method</code>: must be one of",
        "<code>consent_channels</code>: unknown channel",
    ]:
        assert expected in html, expected
    assert world.count(Enrolment) == 0
    assert world.count(Participant) == 0


def test_import_stores_only_the_good_rows_and_reuploading_changes_nothing(
    world: World, staff_client: StaffClient
) -> None:
    enroller = staff_client("enroller")
    preview = upload(enroller, MIXED)
    signed = signed_upload(preview.text)
    response = enroller.post(
        "/enrol/csv/import", data={"csrf_token": csrf_of(preview.text), "upload": signed}, follow_redirects=False
    )
    assert response.status_code == 200, response.text
    assert "2 enrolled, 0 already enrolled" in response.text
    assert "2 rows with problems not imported" in response.text
    with world.factory() as session:
        refs = sorted(session.scalars(select(Participant.client_ref)))
        window = session.scalars(select(Enrolment).join(Participant).where(Participant.client_ref == "A-2")).one()
    assert refs == ["A-1", "A-2"]
    assert window.window_days == "mon,wed,fri"
    assert world.count(Checkup) == 2

    report = enroller.post(
        "/enrol/csv/errors.csv", data={"csrf_token": csrf_of(preview.text), "upload": signed}, follow_redirects=False
    )
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert 'filename="clients-errors.csv"' in report.headers["content-disposition"]
    lines = report.text.splitlines()
    assert lines[0] == "row,client_ref,column,message"
    assert {line.split(",")[1] for line in lines[1:]} == {"A-3", "A-4"}
    assert any(line.startswith("3,A-3,phone,") for line in lines)
    assert any(line.startswith("5,A-4,timezone,") for line in lines)

    again = upload(enroller, MIXED)
    assert "2 good (0 new, 2 already enrolled)" in again.text
    imported = enroller.post(
        "/enrol/csv/import",
        data={"csrf_token": csrf_of(again.text), "upload": signed_upload(again.text)},
        follow_redirects=False,
    )
    assert "0 enrolled, 2 already enrolled (nothing changed)" in imported.text
    assert world.count(Enrolment) == 2
    assert world.count(Checkup) == 2
    with world.factory() as session:
        created = session.scalars(select(AuditEvent).where(AuditEvent.action == "enrolment.created")).all()
        imports = session.scalars(select(AuditEvent).where(AuditEvent.action == "enrolment.csv_imported")).all()
    assert len(created) == 2
    assert [i.detail["created"] for i in imports] == [2, 0]


def test_a_conflicting_row_is_refused_in_the_preview(world: World, staff_client: StaffClient) -> None:
    world.enrol("A-1", phone="+447700900999")
    response = upload(staff_client("enroller"), (HEADER + GOOD_1).encode())
    assert "Enrolled differently: refused" in response.text
    assert "with a different phone" in response.text
    assert 'action="/enrol/csv/import"' not in response.text  # no good row: nothing to import
    assert 'action="/enrol/csv/errors.csv"' in response.text


def test_the_signed_upload_cannot_be_changed_or_used_by_someone_else(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    preview = upload(enroller, MIXED)
    signed = signed_upload(preview.text)
    tampered = signed[:-3] + ("AAA" if not signed.endswith("AAA") else "BBB")
    response = enroller.post("/enrol/csv/import", data={"csrf_token": csrf_of(preview.text), "upload": tampered})
    assert response.status_code == 400
    assert "Upload the file again" in response.text
    other = staff_client("enroller")
    page = other.get("/enrol/csv")
    response = other.post("/enrol/csv/import", data={"csrf_token": csrf_of(page.text), "upload": signed})
    assert response.status_code == 400
    assert world.count(Enrolment) == 0
    # and without the CSRF token nothing happens either
    assert enroller.post("/enrol/csv/import", data={"upload": signed}).status_code == 403
    assert enroller.post("/enrol/csv", files={"file": ("a.csv", MIXED, "text/csv")}).status_code == 403
    assert world.count(Enrolment) == 0


def test_the_preview_expires(world: World, staff_client: StaffClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    enroller = staff_client("enroller")
    preview = upload(enroller, MIXED)
    later = time.time() + 3 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    response = enroller.post(
        "/enrol/csv/import", data={"csrf_token": csrf_of(preview.text), "upload": signed_upload(preview.text)}
    )
    assert response.status_code == 400
    assert "more than 2 hours old" in response.text


BAD_FILES = [
    (b"", "the file is empty"),
    (HEADER.encode(), "a header but no rows"),
    (b"client_ref,phone\r\nA-1,+447700900101\r\n", "missing required columns: timezone"),
    ((HEADER.strip() + ",notes\r\n" + GOOD_1).encode(), "unknown column (column 16)"),
    ((HEADER + GOOD_1).encode("utf-16"), "UTF-16"),
    ((HEADER + "A-1,Zoë,+447700900101").encode("latin-1"), "row 2: byte 7 of this line (0xEB) is not UTF-8"),
    (b"PK\x03\x04 not really a workbook", "spreadsheet workbook, not a CSV file"),
    ((HEADER + 'A-1,"Sam,+447700900101\r\n').encode(), "a quoted value is never closed"),
    (HEADER.encode() + b"x" * (520 * 1024), "the limit is 512 KB"),
]


def test_bad_files_are_refused_saying_where_and_why(world: World, staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    for data, message in BAD_FILES:
        response = upload(enroller, data)
        assert response.status_code == 422, message
        assert "cannot be read, so nothing was saved" in response.text
        assert message in response.text.replace("&#39;", "'").replace("&#34;", '"'), message
    assert world.count(Enrolment) == 0


def test_a_bom_from_excel_is_fine(world: World, staff_client: StaffClient) -> None:
    response = upload(staff_client("enroller"), b"\xef\xbb\xbf" + (HEADER + GOOD_1).encode())
    assert response.status_code == 200
    assert "1 good (1 new" in response.text


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    response = upload(enroller, b"x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert "limit is 512 KB" in response.text


def test_no_file_chosen_is_told_beside_the_field(staff_client: StaffClient) -> None:
    enroller = staff_client("enroller")
    token = csrf_of(enroller.get("/enrol/csv").text)
    response = enroller.post("/enrol/csv", data={"csrf_token": token}, files={"file": ("", b"", "text/csv")})
    assert response.status_code == 422
    assert "choose a CSV file" in error_beside(response.text, "file")


# --- participants -----------------------------------------------------------------------------------------------


def test_the_list_shows_their_own_organisation_with_status_and_next_checkup(
    world: World, staff_client: StaffClient
) -> None:
    first = world.enrol("A-1", alias="Sam")
    world.enrol("A-2", phone="+447700900456")
    world.enrol("B-1", organisation="org-b", phone="+447700900789")
    withdraw(world.ctx, world.factory, first.enrolment.id, "test", "moved")
    reply_and_flag(world, first.enrolment.participant_id, "urgent")
    enroller = staff_client("enroller")
    page = enroller.get("/participants")
    assert "1 h ago" in page.text  # when they last replied, never what they said
    assert "secret words" not in page.text
    assert '<span class="badge sev-urgent">Urgent</span>' in page.text
    assert page.status_code == 200
    assert "A-1" in page.text
    assert "A-2" in page.text
    assert "Sam" in page.text
    assert "B-1" not in page.text
    assert "Withdrawn" in page.text
    assert "GMT" in page.text  # A-2's next check-up, in their own time
    assert "+447700900" not in page.text
    only_active = enroller.get("/participants?status=active")
    assert "A-2" in only_active.text
    assert ">A-1<" not in only_active.text
    assert "Unknown status" in enroller.get("/participants?status=nonsense").text
    assert ">A-2<" in enroller.get("/participants?ref=A-2").text
    assert staff_client("lead").get("/participants").status_code == 200
    assert staff_client("volunteer").get("/participants").status_code == 403


def test_a_participant_page_is_audited_and_another_organisations_is_not_found(
    world: World, staff_client: StaffClient
) -> None:
    mine = world.enrol("A-1", alias="Sam").enrolment.participant_id
    theirs = world.enrol("B-1", organisation="org-b", phone="+447700900789").enrolment.participant_id
    enroller = staff_client("enroller")
    page = enroller.get(f"/participants/{mine}")
    assert page.status_code == 200
    assert "A-1 · Sam" in page.text
    assert PHONE not in page.text
    assert "123" in page.text
    shown = enroller.get(f"/participants/{mine}?phone=show")
    assert PHONE in shown.text
    assert enroller.get(f"/participants/{theirs}").status_code == 404
    assert enroller.get("/participants/999999").status_code == 404
    lead = staff_client("lead")
    lead_page = lead.get(f"/participants/{mine}?phone=show")
    assert PHONE not in lead_page.text  # leads never see the number
    assert "Pause check-ups" not in lead_page.text  # nor change anything
    assert staff_client("volunteer").get(f"/participants/{mine}").status_code == 403
    with world.factory() as session:
        views = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "participant.viewed").order_by(AuditEvent.id)
        ).all()
    assert [(v.subject_id, v.detail["via"], v.detail["phone_shown"]) for v in views] == [
        (mine, "web", False),
        (mine, "web", True),
        (mine, "web", False),
    ]
    assert all(PHONE not in str(v.detail) for v in views)


def test_pause_resume_and_withdraw_from_the_page(world: World, staff_client: StaffClient) -> None:
    pid = world.enrol("A-1").enrolment.participant_id
    enroller = staff_client("enroller")
    page = enroller.get(f"/participants/{pid}").text
    response = post_form(enroller, f"/participants/{pid}/pause", {"pause_reason": "in hospital"}, page=page)
    assert response.status_code == 303
    assert response.headers["location"] == f"/participants/{pid}?done=paused"
    page = enroller.get(response.headers["location"]).text
    assert "Paused: nothing is sent until" in page
    assert '<dd id="status">Paused</dd>' in page
    response = post_form(enroller, f"/participants/{pid}/resume", {}, page=page)
    assert response.status_code == 303
    page = enroller.get(f"/participants/{pid}").text
    assert '<dd id="status">Active</dd>' in page
    refused = post_form(enroller, f"/participants/{pid}/withdraw", {"withdraw_reason": " "}, page=page)
    assert refused.status_code == 422
    assert "say why" in error_beside(refused.text, "withdraw_reason")
    response = post_form(enroller, f"/participants/{pid}/withdraw", {"withdraw_reason": "moved away"}, page=page)
    assert response.status_code == 303
    again = post_form(enroller, f"/participants/{pid}/resume", {}, page=page)
    assert again.status_code == 409
    assert "only a paused one resumes" in again.text
    with world.factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == f"user:{enroller.user.id}").order_by(AuditEvent.id)  # type: ignore[attr-defined]
        ).all()
    changes = [a for a in actions if a.startswith("enrolment.")]
    assert changes == ["enrolment.paused", "enrolment.resumed", "enrolment.withdrawn"]


def test_change_phone_and_window_with_errors_beside_the_fields(world: World, staff_client: StaffClient) -> None:
    result = world.enrol("A-1")
    pid = result.enrolment.participant_id
    enroller = staff_client("enroller")
    page = enroller.get(f"/participants/{pid}").text
    bad = post_form(enroller, f"/participants/{pid}/phone", {"phone": "12"}, page=page)
    assert bad.status_code == 422
    assert "not a valid phone number" in error_beside(bad.text, "phone")
    assert 'value="12"' in bad.text
    ok = post_form(enroller, f"/participants/{pid}/phone", {"phone": "+447700900555"}, page=page)
    assert ok.status_code == 303
    with world.factory() as session:
        participant = session.get(Participant, pid)
        assert world.ctx.vault.decrypt(participant.phone_cipher) == "+447700900555"  # type: ignore[union-attr]

    bad = post_form(
        enroller,
        f"/participants/{pid}/window",
        {"window_start": "15:00", "window_end": "12:00", "window_days": ["mon"]},
        page=page,
    )
    assert bad.status_code == 422
    assert "must be after start 15:00" in error_beside(bad.text, "window_end")
    bad = post_form(
        enroller, f"/participants/{pid}/window", {"window_start": "15:00", "window_end": "17:00"}, page=page
    )
    assert "tick at least one day" in error_beside(bad.text, "window_days")
    ok = post_form(
        enroller,
        f"/participants/{pid}/window",
        {"window_start": "15:00", "window_end": "17:00", "window_days": ["mon", "tue"]},
        page=page,
    )
    assert ok.status_code == 303
    with world.factory() as session:
        enrolment = session.get(Enrolment, result.enrolment.id)
        checkup = session.scalars(select(Checkup)).one()
    assert enrolment.window_days == "mon,tue"  # type: ignore[union-attr]
    local = checkup.action_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/London"))  # type: ignore[union-attr]
    assert 15 <= local.hour < 17
    assert local.weekday() in (0, 1)
    with world.factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("%changed"))).all()
    assert sorted(e.action for e in events) == ["enrolment.window_changed", "participant.phone_changed"]
    assert all("+44" not in str(e.detail) for e in events)


def test_actions_need_csrf_an_enroller_and_the_right_organisation(world: World, staff_client: StaffClient) -> None:
    mine = world.enrol("A-1").enrolment.participant_id
    theirs = world.enrol("B-1", organisation="org-b", phone="+447700900789").enrolment.participant_id
    enroller = staff_client("enroller")
    page = enroller.get(f"/participants/{mine}").text
    assert enroller.post(f"/participants/{mine}/pause", data={}).status_code == 403
    assert post_form(enroller, f"/participants/{theirs}/pause", {}, page=page).status_code == 404
    lead = staff_client("lead")
    lead_page = lead.get(f"/participants/{mine}").text
    assert post_form(lead, f"/participants/{mine}/pause", {}, page=lead_page).status_code == 403
    with world.factory() as session:
        assert {e.status for e in session.scalars(select(Enrolment))} == {"active"}
    world.clock.advance(timedelta(minutes=1))
