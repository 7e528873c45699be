"""The enrolment REST API on both stores: enrol (201 / 200 / 409 / 422), list and read participants, pause,
resume, withdraw, change phone or window; tokens act as their user's role and organisation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from checkups.engine.users import add_user, issue_token
from checkups.models import AuditEvent, Checkup, Enrolment
from checkups.web.api_enrolment import OverdoseRisk

from .conftest import World
from .test_web_enrolment import reply_and_flag

BODY: dict[str, Any] = {
    "client_ref": "A-1001",
    "alias": "Sam",
    "phone": "+447700900123",
    "timezone": "Europe/London",
    "protocol": "standard-5y",
    "anchor_date": "2026-01-05",
    "consent_by": "J. Smith",
    "consent_method": "written",
    "consent_channels": ["sms", "voice"],
}


def token(world: World, role: str, org: str | None = "org-a") -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    with world.factory() as session, session.begin():
        user = add_user(session, email, role, org, "a long enough password", world.clock.now(), "test")
        return {"Authorization": f"Bearer {issue_token(session, user, 'test', world.clock.now(), 'test')}"}


def enrol(client: TestClient, headers: dict[str, str], **overrides: Any):
    return client.post("/api/v1/enrolments", headers=headers, json={**BODY, **overrides})


def test_enrol_is_201_then_200_for_the_same_and_409_for_a_different_one(world: World, client: TestClient) -> None:
    enroller = token(world, "enroller")
    created = enrol(client, enroller)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["created"] is True
    participant = body["participant"]
    assert participant["client_ref"] == "A-1001"
    assert participant["alias"] == "Sam"
    assert participant["phone_last_digits"].endswith("123")
    assert "+44" not in created.text
    assert participant["enrolment"]["status"] == "active"
    assert participant["enrolment"]["window"] == {
        "start": "10:00",
        "end": "19:00",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
    }
    with world.factory() as session:
        first = session.scalars(select(Checkup)).one()
    nxt = participant["next_checkup"]
    assert nxt["state"] == "scheduled"
    assert nxt["local"] == first.due_at.astimezone(ZoneInfo("Europe/London")).isoformat()

    again = enrol(client, enroller)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["participant"]["id"] == participant["id"]

    conflict = enrol(client, enroller, protocol="tcc-12m")
    assert conflict.status_code == 409
    assert "different protocol" in conflict.json()["detail"]
    assert conflict.json()["enrolment_id"] == participant["enrolment"]["id"]
    assert world.count(Enrolment) == 1


def test_bad_fields_are_422_saying_where_and_why_and_nothing_is_stored(world: World, client: TestClient) -> None:
    enroller = token(world, "enroller")
    response = enrol(client, enroller, phone="12", timezone="Mars/Olympus", protocol="nope", window_start="25:00")
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert errors == {("body", "window_start"): "expected a time as HH:MM (e.g. 10:00), got '25:00'"}
    response = enrol(client, enroller, phone="12", timezone="Mars/Olympus", protocol="nope")
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert set(errors) == {("body", "phone"), ("body", "timezone"), ("body", "protocol")}
    assert "unknown time zone 'Mars/Olympus'" in errors[("body", "timezone")]
    response = enrol(client, enroller, window_start="18:00", window_end="09:00")
    assert response.json()["detail"][0]["loc"] == ["body", "window_end"]
    assert "must be after start 18:00" in response.json()["detail"][0]["msg"]
    # the schema's own checks answer in the same shape
    response = enrol(client, enroller, consent_method="telepathy", surname="Smith", anchor_date="soon")
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {("body", "consent_method"), ("body", "surname"), ("body", "anchor_date")} <= locs
    response = enrol(client, enroller, organisation="org-b")
    assert response.status_code == 422
    assert "your own organisation (org-a)" in response.json()["detail"][0]["msg"]
    assert world.count(Enrolment) == 0


def test_list_and_show_only_your_own_organisation(world: World, client: TestClient) -> None:
    a = token(world, "enroller")
    b = token(world, "enroller", "org-b")
    for n in range(3):
        assert enrol(client, a, client_ref=f"A-{n}", phone=f"+44770090010{n}").status_code == 201
    theirs = enrol(client, b, client_ref="B-1").json()["participant"]["id"]

    page = client.get("/api/v1/participants?per_page=2", headers=a).json()
    assert page["total"] == 3
    assert [p["client_ref"] for p in page["items"]] == ["A-2", "A-1"]
    second = client.get("/api/v1/participants?per_page=2&page=2", headers=a).json()
    assert [p["client_ref"] for p in second["items"]] == ["A-0"]
    assert client.get(f"/api/v1/participants/{theirs}", headers=a).status_code == 404
    assert client.get("/api/v1/participants/999999", headers=a).status_code == 404
    assert client.get(f"/api/v1/participants/{theirs}", headers=b).status_code == 200
    mine = page["items"][0]["id"]
    lead = token(world, "lead")
    shown = client.get(f"/api/v1/participants/{mine}", headers=lead)
    assert shown.status_code == 200
    assert shown.json()["last_reply_at"] is None
    assert shown.json()["open_flag"] is None
    reply_and_flag(world, mine)
    shown = client.get(f"/api/v1/participants/{mine}", headers=lead).json()
    assert datetime.fromisoformat(shown["last_reply_at"]) == world.clock.now() - timedelta(hours=1)
    assert shown["open_flag"]["severity"] == "high"
    assert "secret words" not in str(shown)
    assert client.get("/api/v1/participants?status=paused", headers=lead).json()["total"] == 0
    assert client.get("/api/v1/participants?status=nonsense", headers=lead).status_code == 422
    with world.factory() as session:
        views = session.scalars(select(AuditEvent).where(AuditEvent.action == "participant.viewed")).all()
    assert {(v.subject_id, v.detail["via"]) for v in views} == {(theirs, "api"), (mine, "api")}


def test_volunteers_are_403_leads_only_read_and_no_token_is_401(world: World, client: TestClient) -> None:
    volunteer = token(world, "volunteer")
    lead = token(world, "lead")
    pid = enrol(client, token(world, "enroller")).json()["participant"]["id"]
    assert enrol(client, volunteer).status_code == 403
    assert client.get("/api/v1/participants", headers=volunteer).status_code == 403
    assert client.get(f"/api/v1/participants/{pid}", headers=volunteer).status_code == 403
    assert enrol(client, lead, client_ref="L-1").status_code == 403
    assert client.post(f"/api/v1/participants/{pid}/pause", headers=lead).status_code == 403
    assert client.patch(f"/api/v1/participants/{pid}", headers=lead, json={"phone": "+447700900456"}).status_code == 403
    assert client.get("/api/v1/participants").status_code == 401
    assert enrol(client, {"Authorization": "Bearer ck_nope"}).status_code == 401


def test_pause_resume_withdraw(world: World, client: TestClient) -> None:
    enroller = token(world, "enroller")
    pid = enrol(client, enroller).json()["participant"]["id"]
    paused = client.post(f"/api/v1/participants/{pid}/pause", headers=enroller, json={"reason": "in hospital"})
    assert paused.status_code == 200
    assert paused.json()["enrolment"]["status"] == "paused"
    assert paused.json()["next_checkup"] is None
    assert client.post(f"/api/v1/participants/{pid}/pause", headers=enroller).status_code == 409
    resumed = client.post(f"/api/v1/participants/{pid}/resume", headers=enroller)
    assert resumed.json()["enrolment"]["status"] == "active"
    assert resumed.json()["next_checkup"]["state"] == "scheduled"
    assert client.post(f"/api/v1/participants/{pid}/withdraw", headers=enroller, json={}).status_code == 422
    withdrawn = client.post(f"/api/v1/participants/{pid}/withdraw", headers=enroller, json={"reason": "moved away"})
    assert withdrawn.json()["enrolment"]["status"] == "withdrawn"
    assert client.post(f"/api/v1/participants/{pid}/resume", headers=enroller).status_code == 409
    other = token(world, "enroller", "org-b")
    assert client.post(f"/api/v1/participants/{pid}/pause", headers=other).status_code == 404


def test_patch_changes_phone_and_window_all_or_nothing(world: World, client: TestClient) -> None:
    enroller = token(world, "enroller")
    pid = enrol(client, enroller).json()["participant"]["id"]
    url = f"/api/v1/participants/{pid}"
    assert client.patch(url, headers=enroller, json={}).status_code == 422
    bad = client.patch(url, headers=enroller, json={"phone": "+447700900456", "window_start": "20:00"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "window_end"]
    unchanged = client.get(url, headers=enroller).json()
    assert unchanged["phone_last_digits"].endswith("123")
    bad = client.patch(url, headers=enroller, json={"phone": "12"})
    assert bad.json()["detail"][0]["loc"] == ["body", "phone"]
    changed = client.patch(
        url,
        headers=enroller,
        json={"phone": "+447700900456", "window_start": "12:00", "window_end": "14:00", "window_days": ["wed"]},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["phone_last_digits"].endswith("456")
    assert body["enrolment"]["window"] == {"start": "12:00", "end": "14:00", "days": ["wed"]}
    local = body["next_checkup"]["local"]
    assert "T12:" in local or "T13:" in local
    with world.factory() as session:
        actions = sorted(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("%changed"))).all())
    assert actions == ["enrolment.window_changed", "participant.phone_changed"]
    other = token(world, "enroller", "org-b")
    assert client.patch(url, headers=other, json={"phone": "+447700900789"}).status_code == 404


def test_the_schema_documents_the_enrolment_api_with_examples(world: World, client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"post"} <= set(paths["/api/v1/enrolments"])
    assert {"get", "patch"} <= set(paths["/api/v1/participants/{participant_id}"])
    for action in ("pause", "resume", "withdraw"):
        assert "post" in paths[f"/api/v1/participants/{{participant_id}}/{action}"]
    responses = paths["/api/v1/enrolments"]["post"]["responses"]
    assert {"200", "201", "409", "422"} <= set(responses)
    enrolment_in = schema["components"]["schemas"]["EnrolmentIn"]
    assert enrolment_in["examples"][0]["phone"].startswith("+447700900")
    assert enrolment_in["additionalProperties"] is False


def test_the_api_overdose_risks_are_the_engines() -> None:
    from typing import get_args

    from checkups.engine.enrolment import OVERDOSE_RISKS

    assert get_args(OverdoseRisk) == OVERDOSE_RISKS
