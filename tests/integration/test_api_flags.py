"""The loop from reply to flag to recorded outcome through the REST API, with its access rules."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from checkups.engine.users import add_user, issue_token
from checkups.models import AuditEvent, Flag

from .conftest import PUBLIC_BASE, TWILIO_TOKEN, World

PHONE = "+447700900888"


def token_for(world: World, email: str, role: str, org: str) -> str:
    with world.factory() as session, session.begin():
        user = add_user(session, email, role, org, "a long enough password", world.clock.now(), "test")
        return issue_token(session, user, "test", world.clock.now(), "test")


def reply(client: TestClient, sid: str, body: str) -> None:
    form = {"MessageSid": sid, "From": PHONE, "To": "+15005550006", "Body": body}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
    assert client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_yes_to_any_use_ends_as_a_24h_flag_worked_to_an_outcome_through_the_api(
    world: World, client: TestClient
) -> None:
    result = world.enrol(phone=PHONE)
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.ticker().tick()
    reply(client, "SM1", "yes")
    sam = token_for(world, "sam@example.org", "volunteer", "org-a")

    listed = client.get("/api/v1/flags", headers=auth(sam))
    assert listed.status_code == 200
    [flag] = listed.json()
    assert flag["severity"] == "high"
    assert flag["due_by"] == (world.clock.now() + timedelta(hours=24)).isoformat()
    assert "Said they have used" in flag["reasons"][0]["reason"]

    assert client.get(f"/api/v1/flags/{flag['id']}", headers=auth(sam)).json()["phone"] is None
    assert client.post(f"/api/v1/flags/{flag['id']}/claim", headers=auth(sam)).json()["state"] == "claimed"
    assert client.get(f"/api/v1/flags/{flag['id']}", headers=auth(sam)).json()["phone"] == PHONE
    attempt = client.post(f"/api/v1/flags/{flag['id']}/attempts", headers=auth(sam), json={"result": "reached"})
    assert attempt.status_code == 200
    resolved = client.post(
        f"/api/v1/flags/{flag['id']}/resolve",
        headers=auth(sam),
        json={"outcome": "referred_recovery_support", "notes": "gave the local meeting times"},
    )
    assert resolved.status_code == 200
    assert resolved.json()["outcome"] == "referred_recovery_support"
    assert client.get("/api/v1/flags", headers=auth(sam)).json() == []

    events = client.get(f"/api/v1/participants/{flag['participant_id']}/timeline", headers=auth(sam)).json()["events"]
    kinds = [e["kind"] for e in events]
    assert {"checkup", "answer", "sent", "received", "flag", "attempt", "outcome"} <= set(kinds)
    with world.factory() as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "participant.viewed")).all()


def test_without_a_valid_token_nothing_is_shown(world: World, client: TestClient) -> None:
    assert client.get("/api/v1/flags").status_code == 401
    assert client.get("/api/v1/flags", headers=auth("ck_not-a-token")).status_code == 401


def test_an_enroller_cannot_work_the_queue(world: World, client: TestClient) -> None:
    enroller = token_for(world, "enrol@example.org", "enroller", "org-a")
    assert client.get("/api/v1/flags", headers=auth(enroller)).status_code == 403


def test_another_organisations_flag_is_not_found(world: World, client: TestClient) -> None:
    participant_id = world.enrol(phone=PHONE).enrolment.participant_id
    with world.factory() as session, session.begin():
        from checkups.engine.flags import raise_flag

        flag_id = raise_flag(
            session, participant_id, "high", "x", world.clock.now() + timedelta(hours=1), world.clock.now(), "test"
        ).id
    other = token_for(world, "bo@example.org", "volunteer", "org-b")
    assert client.get("/api/v1/flags", headers=auth(other)).json() == []
    assert client.get(f"/api/v1/flags/{flag_id}", headers=auth(other)).status_code == 404
    assert client.post(f"/api/v1/flags/{flag_id}/claim", headers=auth(other)).status_code == 404
    assert client.get(f"/api/v1/participants/{participant_id}/timeline", headers=auth(other)).status_code == 404
    with world.factory() as session:
        assert session.get(Flag, flag_id).state == "open"


def test_claiming_a_claimed_flag_is_a_conflict_and_bad_outcomes_are_refused(world: World, client: TestClient) -> None:
    participant_id = world.enrol(phone=PHONE).enrolment.participant_id
    with world.factory() as session, session.begin():
        from checkups.engine.flags import raise_flag

        flag_id = raise_flag(
            session, participant_id, "high", "x", world.clock.now() + timedelta(hours=1), world.clock.now(), "test"
        ).id
    sam, alex = (
        token_for(world, "sam@example.org", "volunteer", "org-a"),
        token_for(world, "al@example.org", "volunteer", "org-a"),
    )
    assert client.post(f"/api/v1/flags/{flag_id}/claim", headers=auth(sam)).status_code == 200
    taken = client.post(f"/api/v1/flags/{flag_id}/claim", headers=auth(alex))
    assert taken.status_code == 409
    assert "someone else" in taken.json()["detail"]
    bad = client.post(f"/api/v1/flags/{flag_id}/resolve", headers=auth(sam), json={"outcome": "fine"})
    assert bad.status_code == 422


def test_the_openapi_schema_lists_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/flags" in paths
    assert "/api/v1/participants/{participant_id}/timeline" in paths
