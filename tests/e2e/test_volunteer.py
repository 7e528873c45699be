"""A volunteer's work in the browser: the queue, a one-click claim, the number, an attempt and an outcome;
and a reply written as HTML and script shows as plain text, with no script run."""

from __future__ import annotations

from datetime import timedelta

import httpx
from playwright.sync_api import Dialog, Page, expect
from twilio.request_validator import RequestValidator

from checkups.engine import flags as flag_ops
from checkups.models import Flag, FlagAttempt
from tests.e2e.conftest import Site, log_in
from tests.integration.conftest import PUBLIC_BASE, TWILIO_TOKEN

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def enrolled(site: Site, phone: str, alias: str) -> int:
    return site.world.enrol(phone=phone, alias=alias).enrolment.participant_id


def says(site: Site, phone: str, *texts: str) -> None:
    """Replies through the live app's signed Twilio webhook, processed by the real engine."""
    for n, text in enumerate(texts):
        form = {"MessageSid": f"SM{phone[-3:]}{n:029d}", "From": phone, "To": "+15005550006", "Body": text}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
        response = httpx.post(site.url + "/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200


def test_a_volunteer_claims_with_one_click_sees_the_number_and_logs_an_attempt_and_outcome(
    page: Page, site: Site
) -> None:
    participant_id = enrolled(site, "+447700900561", "Robin")
    now = site.world.clock.now()
    with site.world.factory() as session, session.begin():
        flag_id = flag_ops.raise_flag(
            session,
            participant_id,
            "high",
            "Said they have used since the last check-in (any_use: yes)",
            now + timedelta(hours=24),
            now,
            "rule:any_use",
            {"evidence": {"any_use": "yes"}},
        ).id
    volunteer = site.staff("volunteer")
    page.set_viewport_size({"width": 375, "height": 800})  # a phone: the queue is cards, the button in reach

    log_in(page, site, volunteer)

    expect(page.get_by_role("heading", name="Flag queue")).to_be_visible()
    row = page.locator(f"#flag-{flag_id}")
    expect(row).to_contain_text("Robin")
    expect(row).to_contain_text("Said they have used since the last check-in.")
    expect(row).to_contain_text("1 d left")
    expect(page.get_by_text("+44 7700 900561")).to_have_count(0)
    claim = row.get_by_role("button", name="Claim")
    box = claim.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 375

    claim.click()

    expect(page.get_by_text("You have claimed this flag")).to_be_visible()
    number = page.get_by_role("link", name="+44 7700 900561")
    expect(number).to_be_visible()
    expect(number).to_have_attribute("href", "tel:+447700900561")
    page.get_by_label("No answer").check()
    page.get_by_label("Notes (optional)").first.fill("rang at 11, no voicemail")
    page.get_by_role("button", name="Save attempt").click()
    expect(page.get_by_text("Attempt saved")).to_be_visible()
    expect(page.locator(".attempts")).to_contain_text("rang at 11, no voicemail")
    page.get_by_role("combobox", name="Outcome").select_option("referred_recovery_support")
    page.get_by_role("button", name="Resolve flag").click()
    expect(page.get_by_text("Flag resolved with its outcome")).to_be_visible()
    expect(page.get_by_text("No open flags")).to_be_visible()
    with site.world.factory() as session:
        flag = session.get(Flag, flag_id)
        assert (flag.state, flag.outcome, flag.resolved_by) == ("resolved", "referred_recovery_support", volunteer.id)
        assert session.query(FlagAttempt).filter_by(flag_id=flag_id).one().notes == "rang at 11, no voicemail"


def test_a_reply_with_html_and_script_shows_as_text_and_runs_nothing(page: Page, site: Site) -> None:
    enrolled(site, "+447700900562", "Sky")
    says(site, "+447700900562", "CALL", XSS)
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    log_in(page, site, site.staff("volunteer"))
    page.get_by_role("link", name="Sky").click()
    page.wait_for_load_state("networkidle")

    reply = page.get_by_text(XSS, exact=True)
    expect(reply).to_be_visible()
    expect(reply).to_have_class("message")
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(200)  # an injected onerror would have fired by now
    assert dialogs == []
