"""Signing in, in the browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, log_in


def test_a_wrong_password_is_told_plainly_and_the_right_one_signs_in(page: Page, site: Site) -> None:
    lead = site.staff("lead")
    page.goto(site.url + "/")
    expect(page).to_have_url(site.url + "/login")
    page.get_by_label("Email").fill(lead.email)
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    log_in(page, site, lead)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
