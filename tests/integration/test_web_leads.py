"""The program leads' pages: protocols (list, source, validation, schedule preview, versions in use) and
the dashboard with its CSV, for each role, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from checkups.engine.metrics import CSV_COLUMNS, Filters, csv_rows, dashboard
from checkups.models import Organisation
from checkups.protocols.loader import load_file
from checkups.protocols.schedule import expand
from checkups.runtime import Runtime
from checkups.settings import load_settings
from checkups.web.app import create_app
from tests.conftest import PROTOCOLS

from .conftest import BACKENDS, PUBLIC_BASE, SESSION_SECRET, TWILIO_TOKEN, World, add_staff, make_world, sign_in
from .test_metrics import END, WEEK0, build_scenario, own_database

Client = Callable[..., TestClient]
RANGE = {"from": "2026-01-05", "to": "2026-01-18"}
LEAD_PAGES = ["/protocols", "/protocols/standard-5y", "/dashboard", "/dashboard.csv"]

BROKEN_YAML = """name: broken
title: A protocol with a tab
schedule:
  phases:
\t- name: weekly
"""
# Valid YAML, wrong content: an unknown key and a phase with no "every".
BAD_CONTENT = """name: bad-content
title: Wrong keys
languages: [en]
send_window: {start: "10:00", end: "19:00"}
shedule: {}
"""


def svg_charts(html: str) -> int:
    return len(re.findall(r'<svg [^>]*role="img"', html))


# --- who may see what ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["volunteer", "enroller"])
def test_other_roles_are_refused_every_lead_page(staff_client: Client, role: str) -> None:
    client = staff_client(role)
    for path in [*LEAD_PAGES, "/protocols/standard-5y/versions/abc"]:
        assert client.get(path).status_code == 403, path


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    for path in LEAD_PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ["lead", "admin"])
def test_every_lead_page_renders_for_leads_and_admins(staff_client: Client, role: str) -> None:
    client = staff_client(role, org=None if role == "admin" else "org-a")
    for path in LEAD_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path


# --- protocols --------------------------------------------------------------------------------------------


def test_the_list_shows_each_protocol_its_version_checkups_and_enrolments(world: World, staff_client: Client) -> None:
    world.enrol("c-1")
    world.enrol("c-2", phone="+447700900124", organisation="org-b")
    standard = load_file(PROTOCOLS / "standard-5y.yaml").protocol
    assert standard is not None
    page = staff_client("lead").get("/protocols").text
    for name in ("standard-5y", "tcc-12m", "rmc-quarterly-4y"):
        assert f'href="/protocols/{name}"' in page
    assert standard.title in page
    assert standard.version in page
    assert "16</td>" in page  # the quarterly protocol's 16 check-ups
    # One active enrolment in this lead's organisation (org-b's is not counted), on the current version.
    assert re.search(rf"{standard.version}</code></a>:\s*1 active", page)
    assert "current</span>" in page


def test_the_protocol_page_shows_the_source_with_line_numbers(staff_client: Client) -> None:
    page = staff_client("lead").get("/protocols/tcc-12m").text
    assert 'id="L1"' in page
    assert "name: tcc-12m" in page
    assert "No errors and no warnings." in page


def test_an_unknown_protocol_is_not_found(staff_client: Client) -> None:
    client = staff_client("lead")
    assert client.get("/protocols/nothing-here").status_code == 404
    assert client.get("/protocols/..%2Fsettings").status_code == 404


def test_a_schedule_preview_matches_the_cli_expansion_across_the_clock_change(staff_client: Client) -> None:
    protocol = load_file(PROTOCOLS / "standard-5y.yaml").protocol
    assert protocol is not None
    expected = expand(protocol, date(2026, 3, 28), "Europe/London")
    page = staff_client("lead").get("/protocols/standard-5y", params={"start": "2026-03-28", "tz": "Europe/London"})
    assert page.status_code == 200
    assert f"{len(expected)} check-ups for someone discharged on 2026-03-28" in page.text
    # British Summer Time starts on 29 March: the first check-up is at 10:00 BST, 09:00 UTC.
    assert "Sat 04 Apr 2026 10:00 BST" in page.text
    assert "2026-04-04 09:00Z" in page.text
    for item in expected:
        assert item.local.strftime("%a %d %b %Y %H:%M %Z") in page.text


def test_a_preview_with_its_own_window_and_days(staff_client: Client) -> None:
    page = staff_client("lead").get(
        "/protocols/standard-5y",
        params={
            "start": "2026-01-05",
            "tz": "America/New_York",
            "window_start": "18:30",
            "window_end": "20:00",
            "days": ["sun"],
        },
    )
    assert "Sun 18 Jan 2026 18:30 EST" in page.text
    assert "2026-01-18 23:30Z" in page.text


def test_preview_mistakes_are_shown_beside_their_fields(staff_client: Client) -> None:
    page = (
        staff_client("lead")
        .get(
            "/protocols/standard-5y",
            params={"start": "5/1/2026", "tz": "Mars/Olympus", "window_start": "19:00", "window_end": "10:00"},
        )
        .text
    )
    assert 'id="e-start"' in page
    assert "YYYY-MM-DD" in page
    assert 'id="e-tz"' in page
    assert "Not a time zone" in page
    assert "must be after start 19:00" in page
    assert "check-ups for someone discharged on" not in page


def app_for(world: World, **settings: object) -> FastAPI:
    config = load_settings(
        public_base_url=PUBLIC_BASE, twilio_auth_token=TWILIO_TOKEN, secret_key=SESSION_SECRET, **settings
    )
    return create_app(Runtime(config, world.engine, world.factory, world.ctx), process_inbound=lambda _: None)


@pytest.fixture
def protocols_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "protocols"
    folder.mkdir()
    for name in ("standard-5y.yaml", "tcc-12m.yaml"):
        shutil.copy(PROTOCOLS / name, folder / name)
    (folder / "broken.yaml").write_text(BROKEN_YAML)
    (folder / "bad-content.yaml").write_text(BAD_CONTENT)
    (folder / "not-utf8.yaml").write_bytes(b"name: x\ntitle: \xff\xfe\n")
    return folder


@pytest.fixture
def lead_on(world: World) -> Iterator[Callable[[Path], TestClient]]:
    """A lead's client on an app whose protocols folder is ``folder``."""
    clients: list[TestClient] = []

    def make(folder: Path, role: str = "lead") -> TestClient:
        client = TestClient(app_for(world, protocols_dir=folder), base_url="http://internal:8000")
        client.__enter__()
        clients.append(client)
        sign_in(client, add_staff(world, role).email)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_broken_protocol_files_show_their_errors_and_the_rest_still_works(
    protocols_dir: Path, lead_on: Callable[[Path], TestClient]
) -> None:
    client = lead_on(protocols_dir)
    listing = client.get("/protocols")
    assert listing.status_code == 200
    page = listing.text
    assert page.count("Invalid:") == 3
    assert "line 5:" in page  # the tab in broken.yaml
    assert "Invalid: 7 errors" in page  # bad-content.yaml; the list shows the first three
    assert "not UTF-8" in page
    assert 'href="/protocols/standard-5y"' in page
    assert "Valid" in page

    detail = client.get("/protocols/broken")
    assert detail.status_code == 200
    assert "Not valid:" in detail.text
    assert '<a href="#L5">5</a>' in detail.text
    assert 'id="L5" class="problem"' in detail.text
    assert "Schedule preview" not in detail.text  # nothing to expand
    # Every problem is on the file's own page; a preview asked for by URL is not attempted.
    bad = client.get("/protocols/bad-content", params={"start": "2026-01-05"}).text
    assert "unknown key; did you mean &#39;schedule&#39;?" in bad
    assert '<a href="#L5">5</a>' in bad
    assert "check-ups for someone discharged on" not in bad
    assert client.get("/protocols/not-utf8").status_code == 200


def test_enrolments_on_an_earlier_version_of_a_file_are_marked(
    world: World, tmp_path: Path, lead_on: Callable[[Path], TestClient]
) -> None:
    world.enrol("c-1")
    world.enrol("c-2", phone="+447700900124")
    folder = tmp_path / "edited"
    folder.mkdir()
    source = (PROTOCOLS / "standard-5y.yaml").read_text()
    (folder / "standard-5y.yaml").write_text(source.replace("remind_after: [1 day]", "remind_after: [2 days]"))
    old = load_file(PROTOCOLS / "standard-5y.yaml").protocol
    new = load_file(folder / "standard-5y.yaml").protocol
    assert old is not None
    assert new is not None
    assert old.version != new.version
    client = lead_on(folder)
    listing = client.get("/protocols").text
    assert new.version in listing
    assert re.search(rf"{old.version}</code></a>:\s*2 active", listing)
    assert "not the file's current version" in listing
    page = client.get("/protocols/standard-5y").text
    assert "2 running enrolments still" in page
    stored = client.get(f"/protocols/standard-5y/versions/{old.version}")
    assert stored.status_code == 200
    assert "remind_after: [1 day]" in stored.text
    assert client.get("/protocols/standard-5y/versions/000000000000").status_code == 404


def test_enrolments_on_a_protocol_whose_file_is_gone_are_listed(
    world: World, tmp_path: Path, lead_on: Callable[[Path], TestClient]
) -> None:
    world.enrol("c-1", protocol="tcc-12m")
    folder = tmp_path / "only-standard"
    folder.mkdir()
    shutil.copy(PROTOCOLS / "standard-5y.yaml", folder)
    page = lead_on(folder).get("/protocols").text
    assert "no longer in the folder" in page
    assert "tcc-12m" in page


# --- dashboard --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def scenario_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, FastAPI]]:
    """The metrics scenario (see test_metrics), built once per backend for this module, and an app on it.
    The tests below only read it (signing in adds accounts, which no figure counts)."""
    with own_database(request.param, request, tmp_path_factory.mktemp("leads")) as url:
        world = make_world(url, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        try:
            build_scenario(world)
            yield world, app_for(world)
        finally:
            world.engine.dispose()


@pytest.fixture
def scenario_world(scenario_site: tuple[World, FastAPI]) -> World:
    return scenario_site[0]


@pytest.fixture
def scenario_client(scenario_site: tuple[World, FastAPI]) -> Iterator[Client]:
    """``scenario_client(role, org)``: a client signed in as a new account, on the scenario's app."""
    world, app = scenario_site
    clients: list[TestClient] = []

    def make(role: str, org: str | None = "org-a") -> TestClient:
        client = TestClient(app, base_url="http://internal:8000")
        client.__enter__()
        clients.append(client)
        sign_in(client, add_staff(world, role, org).email)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def org_id(world: World, slug: str) -> int:
    with world.factory() as session:
        return session.scalars(select(Organisation.id).where(Organisation.slug == slug)).one()


def expected_csv(world: World, organisation: str | None, **filters: object) -> list[list[str]]:
    with world.factory() as session:
        board = dashboard(
            session,
            Filters.covering(
                WEEK0,
                date(2026, 1, 18),
                organisation_id=org_id(world, organisation) if organisation else None,
                **filters,
            ),  # type: ignore[arg-type]
            END,
        )
    return [list(CSV_COLUMNS), *[list(row) for row in csv_rows(board)]]


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_dashboard_draws_every_chart_with_its_numbers(scenario_world: World, scenario_client: Client) -> None:
    page = scenario_client("lead").get("/dashboard", params=RANGE)
    assert page.status_code == 200
    html = page.text
    assert svg_charts(html) == 6
    assert 'Dashboard <span class="muted">· Org A' in html
    assert '<div class="figure">3</div>active enrolments now' in html
    assert '<div class="figure">50%</div>response rate: 1 answered of 2' in html
    assert '<div class="figure">2 h 15 min</div>median time' in html
    assert "deadlines missed, of 2 flags" in html
    assert "Crisis words" in html
    assert "wants_call" in html
    assert "<script" not in html  # charts are drawn on the server


def test_a_lead_never_sees_another_organisations_numbers(scenario_world: World, scenario_client: Client) -> None:
    lead = scenario_client("lead", org="org-a")
    html = lead.get("/dashboard", params={**RANGE, "org": "org-b"}).text
    assert "Org B" not in html
    assert "call_request" not in html  # org-b's only flag reason
    assert 'name="org"' not in html  # no organisation filter offered
    mine = expected_csv(scenario_world, "org-a")
    assert read_csv(lead.get("/dashboard.csv", params={**RANGE, "org": "org-b"}).text) == mine
    assert read_csv(lead.get("/dashboard.csv", params=RANGE).text) == mine
    other = scenario_client("lead", org="org-b")
    assert read_csv(other.get("/dashboard.csv", params=RANGE).text) == expected_csv(scenario_world, "org-b")


def test_an_admin_sees_everyone_and_can_pick_an_organisation(scenario_world: World, scenario_client: Client) -> None:
    admin = scenario_client("admin", org=None)
    html = admin.get("/dashboard", params=RANGE).text
    assert "All organisations" in html
    assert '<div class="figure">3</div>flags raised' in html
    assert read_csv(admin.get("/dashboard.csv", params=RANGE).text) == expected_csv(scenario_world, None)
    picked = admin.get("/dashboard.csv", params={**RANGE, "org": "org-b"})
    assert read_csv(picked.text) == expected_csv(scenario_world, "org-b")
    assert "org-b" in picked.headers["content-disposition"]
    assert "No organisation by that name" in admin.get("/dashboard", params={"org": "org-z"}).text


def test_the_csv_export_is_one_row_per_week_per_metric(scenario_world: World, scenario_client: Client) -> None:
    response = scenario_client("lead").get(
        "/dashboard.csv", params={**RANGE, "protocol": "standard-5y", "phase": "weekly"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="checkups-dashboard-org-a-2026-01-05-to-2026-01-18.csv"'
    )
    rows = read_csv(response.text)
    assert rows[0] == list(CSV_COLUMNS)
    assert rows == expected_csv(scenario_world, "org-a", protocol="standard-5y", phase="weekly")
    values = {(r[0], r[2], r[3]): r[4] for r in rows[1:]}
    assert values[("2026-01-12", "checkups_sent", "")] == "1"
    assert values[("2026-01-12", "response_rate", "")] == "1.0000"
    assert values[("2026-01-05", "checkups_sent", "")] == "0"
    assert values[("2026-01-12", "median_hours_to_first_contact", "")] == "4.00"


def test_the_csv_link_carries_the_filters(scenario_world: World, scenario_client: Client) -> None:
    html = scenario_client("lead").get("/dashboard", params={**RANGE, "phase": "weekly"}).text
    assert 'href="/dashboard.csv?phase=weekly&amp;from=2026-01-05&amp;to=2026-01-18"' in html


def test_the_default_range_is_the_last_twelve_weeks(world: World, staff_client: Client) -> None:
    html = staff_client("lead").get("/dashboard").text
    today = world.clock.now().date()
    first = Filters.recent(today).start
    assert f'value="{first.isoformat()}"' in html
    assert f'value="{today.isoformat()}"' in html
    assert svg_charts(html) == 6  # empty charts say "No data yet", but are there


def test_bad_filters_are_explained_not_crashed_on(staff_client: Client) -> None:
    lead = staff_client("lead")
    page = lead.get("/dashboard", params={"from": "yesterday", "to": "2026-01-01"})
    assert page.status_code == 200
    assert 'id="e-from"' in page.text
    reversed_range = lead.get("/dashboard", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert "before the start date" in reversed_range.text
    too_long = lead.get("/dashboard", params={"from": "2000-01-03", "to": "2026-01-01"})
    assert "At most 260 weeks" in too_long.text
    unknown = lead.get("/dashboard", params={"protocol": "nope", "phase": "daily"}).text
    assert "No protocol by that name." in unknown
    assert "No phase by that name." in unknown
    assert 'href="/dashboard.csv?from=' in unknown  # the link exports what is shown, without the mistakes
    csv_response = lead.get("/dashboard.csv", params={"from": "yesterday"})
    assert csv_response.status_code == 400
    assert "YYYY-MM-DD" in csv_response.text
