"""Signing in to the staff pages: sessions, CSRF, the login throttle, safe redirects and page headers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from checkups.models import AuditEvent, User
from checkups.web import security
from tests.integration.conftest import STAFF_PASSWORD, World, add_staff, csrf_of, sign_in


def _post_login(client: TestClient, email: str, password: str, next_path: str = "/"):
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )


def test_each_role_lands_on_its_own_work(world: World, client: TestClient) -> None:
    for role, home in [("volunteer", "/queue"), ("enroller", "/participants"), ("lead", "/dashboard")]:
        user = add_staff(world, role)
        client.cookies.clear()
        response = _post_login(client, user.email, STAFF_PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == home
        assert client.get("/", follow_redirects=False).headers["location"] == home


def test_a_page_without_a_session_goes_to_sign_in_and_back(world: World, client: TestClient) -> None:
    response = client.get("/queue?severity=urgent", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/queue%3Fseverity%3Durgent"
    user = add_staff(world, "volunteer")
    response = _post_login(client, user.email, STAFF_PASSWORD, next_path="/queue?severity=urgent")
    assert response.headers["location"] == "/queue?severity=urgent"


def test_next_never_leaves_the_site(world: World, client: TestClient) -> None:
    user = add_staff(world, "volunteer")
    for evil in ["https://evil.example", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]:
        client.cookies.clear()
        response = _post_login(client, user.email, STAFF_PASSWORD, next_path=evil)
        assert response.headers["location"] == "/queue", evil


def test_wrong_password_and_unknown_email_say_the_same_thing(world: World, client: TestClient) -> None:
    user = add_staff(world, "volunteer")
    wrong = _post_login(client, user.email, "not the password at all")
    unknown = _post_login(client, "nobody@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an active account" in wrong.text
    assert "do not match an active account" in unknown.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_login_is_throttled_per_account_even_with_the_right_password(world: World, client: TestClient) -> None:
    user = add_staff(world, "volunteer")
    for _ in range(5):
        assert _post_login(client, user.email, "guess " * 3).status_code == 401
    blocked = _post_login(client, user.email, STAFF_PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    world.clock.advance(timedelta(minutes=16))
    assert _post_login(client, user.email, STAFF_PASSWORD).status_code == 303
    with world.factory() as session:
        failures = session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
    assert len(failures) == 5
    assert all("guess" not in str(f.detail) for f in failures)  # no password text in the trail


def test_forms_without_the_csrf_token_are_refused(world: World, client: TestClient) -> None:
    user = add_staff(world, "volunteer")
    client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": STAFF_PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    response = client.post(
        "/login",
        data={"email": user.email, "password": STAFF_PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_sign_out_needs_csrf_and_ends_the_session(world: World, client: TestClient) -> None:
    user = add_staff(world, "lead")
    sign_in(client, user.email)
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    token = client.cookies.get("checkups_session")
    assert token
    page = client.get("/login")
    assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_deactivated_account_is_out_at_its_next_click(world: World, client: TestClient) -> None:
    user = add_staff(world, "lead")
    sign_in(client, user.email)
    with world.factory() as session, session.begin():
        session.get(User, user.id).active = False  # type: ignore[union-attr]
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_sessions_expire_in_real_time(world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    user = add_staff(world, "lead")
    sign_in(client, user.email)
    world.clock.advance(timedelta(days=3))  # the service clock (a fast demo clock) does not end sessions
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    later = time.time() + 12 * 3600 + 60
    monkeypatch.setattr(security, "wall_clock", lambda: later)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_pages_carry_protective_headers_and_the_cookie_is_http_only(world: World, client: TestClient) -> None:
    page = client.get("/login")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "content-security-policy" not in client.get("/healthz").headers


def test_unknown_pages_are_html_for_people_and_json_for_machines(client: TestClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/json")
