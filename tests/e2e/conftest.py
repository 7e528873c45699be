"""Browser tests: the real app on a real port (uvicorn in a thread, a migrated SQLite file, a settable
clock), driven by Playwright in Debian's headless Chromium. They fail, never skip, when Chromium is missing.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from checkups.engine.inbound import process_inbound
from checkups.models import User
from checkups.runtime import Runtime
from checkups.settings import load_settings
from checkups.web.app import create_app
from tests.integration.conftest import (
    PUBLIC_BASE,
    SESSION_SECRET,
    STAFF_PASSWORD,
    TWILIO_TOKEN,
    World,
    add_staff,
    make_world,
)

CHROMIUM = Path("/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Site:
    """The app as a browser reaches it, and the world behind it for arranging and checking."""

    url: str
    world: World

    def staff(self, role: str, org: str | None = "org-a") -> User:
        return add_staff(self.world, role, org)


@pytest.fixture(scope="session")
def sqlite_template_e2e(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from checkups.migrate import upgrade

    path = tmp_path_factory.mktemp("e2e") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def site(sqlite_template_e2e: Path, tmp_path: Path) -> Iterator[Site]:
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(sqlite_template_e2e, path)
    world = make_world(f"sqlite:///{path}", datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    runtime = Runtime(
        load_settings(public_base_url=PUBLIC_BASE, twilio_auth_token=TWILIO_TOKEN, secret_key=SESSION_SECRET),
        world.engine,
        world.factory,
        world.ctx,
    )
    app = create_app(runtime, process_inbound=lambda i: process_inbound(world.ctx, world.factory, i))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the web app did not start within 10 s", pytrace=False)
        time.sleep(0.02)
    yield Site(f"http://127.0.0.1:{port}", world)
    server.should_exit = True
    thread.join(timeout=10)
    world.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(page: Page, site: Site, user: User) -> None:
    """Sign in through the form, as a person would."""
    page.goto(site.url + "/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
