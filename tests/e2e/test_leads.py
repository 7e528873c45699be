"""A program lead in the browser: the dashboard's charts and CSV, and a protocol's schedule preview."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from checkups.engine.inbound import process_inbound, store_inbound
from checkups.engine.metrics import CSV_COLUMNS
from tests.e2e.conftest import Site, log_in

PHONE = "+447700900150"


def answered_checkup(site: Site) -> None:
    """One person enrolled a week ago, whose check-up went out today and was answered "yes": a flag."""
    world = site.world
    result = world.enrol("c-1", phone=PHONE, anchor_date=(world.clock.now() - timedelta(days=7)).date())
    world.run(until=result.first_checkup.due_at + timedelta(minutes=1))
    for i, text in enumerate(["yes", "3", "8", "N"]):
        with world.factory() as session, session.begin():
            stored = store_inbound(world.ctx, session, f"SM{i:032d}", PHONE, text)
        process_inbound(world.ctx, world.factory, stored.inbound_id)


def test_a_lead_reads_the_dashboard_and_downloads_its_csv(page: Page, site: Site, tmp_path: Path) -> None:
    answered_checkup(site)
    log_in(page, site, site.staff("lead"))
    expect(page).to_have_url(site.url + "/dashboard")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    charts = page.locator("svg[role=img]")
    expect(charts).to_have_count(6)
    expect(page.get_by_role("img", name="Response rate by week")).to_be_visible()
    expect(page.locator(".card").first).to_contain_text("1")
    expect(page.get_by_text("100%").first).to_be_visible()  # one check-up sent, one answered

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("checkups-dashboard-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(CSV_COLUMNS)
    assert len({row[0] for row in rows[1:]}) == 12  # the last twelve weeks
    this_week = rows[-1][0]
    values = {(r[0], r[2], r[3]): r[4] for r in rows[1:]}
    assert values[(this_week, "checkups_answered", "")] == "1"
    assert values[(this_week, "flags_by_reason", "any_use")] == "1"


def test_a_lead_opens_a_protocol_and_previews_its_schedule(page: Page, site: Site) -> None:
    log_in(page, site, site.staff("lead"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Protocols").click()
    expect(page.get_by_role("heading", name="Protocols")).to_be_visible()
    page.get_by_role("link", name="standard-5y").click()
    expect(page.get_by_role("heading", name="Standard check-ups, five years")).to_be_visible()
    expect(page.locator("ol.source li").first).to_contain_text("standard-5y")

    page.get_by_label("Discharge date").fill("2026-03-28")
    page.get_by_label("Time zone").fill("Europe/London")
    page.get_by_role("button", name="Preview the schedule").click()
    expect(page.get_by_role("heading", name="54 check-ups for someone discharged on 2026-03-28")).to_be_visible()
    first = page.locator("table.schedule tbody tr").first
    expect(first).to_contain_text("weekly")
    expect(first).to_contain_text("Sat 04 Apr 2026 10:00 BST")
    expect(page.locator("table.schedule tbody tr")).to_have_count(54)

    page.get_by_label("Time zone").fill("Atlantis/Capital")
    page.get_by_role("button", name="Preview the schedule").click()
    expect(page.get_by_text("Not a time zone name")).to_be_visible()
    expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
