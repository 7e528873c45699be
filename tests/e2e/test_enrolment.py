"""Enrolling in the browser: by form (with a mistake put right) and from a CSV file, previewed then imported."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from checkups.engine.csv_import import template_csv
from checkups.models import Enrolment, Participant
from tests.e2e.conftest import Site, log_in

CSV = (
    template_csv()
    + "E-1,Sam,+44 7700 900101,Europe/London,,,,,,standard-5y,2026-03-02,J. Smith,written,sms voice,\r\n"
    + "E-2,,12,Europe/London,,,,,,standard-5y,2026-03-02,J. Smith,written,sms,\r\n"
    + "E-3,Jo,+1 212 555 0142,America/New_York,,,11:00,17:00,mon wed fri,"
    + "standard-5y,2026-03-02,J. Smith,verbal,sms,\r\n"
).encode()


def test_enrol_by_form_after_putting_a_mistake_right(page: Page, site: Site) -> None:
    log_in(page, site, site.staff("enroller"))
    page.get_by_role("link", name="Enrol", exact=True).click()
    page.get_by_label("Client reference").fill("F-1")
    page.get_by_label("First name or alias").fill("Sam")
    page.get_by_label("Mobile number").fill("12")
    page.get_by_label("Time zone where they live").fill("Europe/London")
    page.get_by_role("combobox", name="Protocol", exact=True).select_option("standard-5y")
    page.get_by_label("How consent was given").select_option("verbal")
    page.get_by_role("checkbox", name="Text message (SMS)").check()
    page.get_by_role("button", name="Enrol", exact=True).click()

    expect(page.locator("#e-phone")).to_contain_text("not a valid phone number")
    expect(page.get_by_label("Mobile number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Client reference")).to_have_value("F-1")
    expect(page.get_by_role("checkbox", name="Text message (SMS)")).to_be_checked()
    assert site.world.count(Participant) == 0

    page.get_by_label("Mobile number").fill("+44 7700 900123")
    page.get_by_role("button", name="Enrol", exact=True).click()
    expect(page.get_by_role("heading", name="Enrolled")).to_be_visible()
    expect(page.locator("#first-checkup")).to_contain_text("(their time)")
    assert site.world.count(Enrolment) == 1

    page.get_by_role("link", name="Open their page").click()
    expect(page.get_by_role("heading", name="F-1 · Sam")).to_be_visible()
    page.get_by_label("Reason for pausing").fill("in hospital")
    page.get_by_role("button", name="Pause check-ups").click()
    expect(page.locator("#status")).to_have_text("Paused")


def test_upload_a_csv_see_its_errors_then_import_the_good_rows(page: Page, site: Site, tmp_path: Path) -> None:
    log_in(page, site, site.staff("enroller"))
    page.goto(site.url + "/enrol/csv")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "clients.csv", "mimeType": "text/csv", "buffer": CSV}]
    )
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_text("Nothing has been saved yet")).to_be_visible()
    expect(page.locator("table")).to_contain_text("not a valid phone number")
    assert site.world.count(Participant) == 0
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the error report (CSV)").click()
    report = tmp_path / "report.csv"
    download.value.save_as(report)
    lines = report.read_text().splitlines()
    assert lines[0] == "row,client_ref,column,message"
    assert lines[1].startswith("3,E-2,phone,")

    page.get_by_role("button", name="Import 2 good rows").click()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible()
    expect(page.get_by_text("2 enrolled, 0 already enrolled")).to_be_visible()
    assert site.world.count(Enrolment) == 2

    page.get_by_role("link", name="See participants").click()
    expect(page.get_by_role("link", name="E-1")).to_be_visible()
    expect(page.get_by_role("link", name="E-3")).to_be_visible()
