"""Issue 4's loop, end to end: a participant enrolled through the CLI gets a check-up by SMS through the
real twilio library and the Twilio fake, replies, the reply is stored and processed through the signed
webhook, and a STOP stops everything. On SQLite and PostgreSQL, with the web app served by uvicorn."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from checkups.crypto import generate_key
from checkups.engine.dispatch import perform
from checkups.engine.inbound import process_inbound
from checkups.engine.ticker import Ticker
from checkups.models import Checkup, CheckupStatus, Enrolment, InboundMessage, OutboundMessage
from checkups.runtime import Runtime, build
from checkups.settings import load_settings
from checkups.testing import TwilioFake
from checkups.web.app import create_app
from tests.conftest import PROTOCOLS

from .conftest import make_world

ACCOUNT = "AC" + "1" * 32
TOKEN = "loop-auth-token-000000000000"
OUR_NUMBER = "+15005550006"
PHONE = "+447700900321"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Web:
    """The web app on a real port, so the fake can post its webhooks to it."""

    def __init__(self, runtime: Runtime, port: int) -> None:
        self.port = port
        app = create_app(runtime, process_inbound=lambda i: process_inbound(runtime.ctx, runtime.factory, i))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _Web:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                pytest.fail("the web app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def loop(database_url: str) -> Iterator[tuple]:
    key = generate_key()
    start = datetime.now(UTC).replace(microsecond=0)
    world = make_world(database_url, start, key=key)
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    with TwilioFake(ACCOUNT, TOKEN, now=world.clock.now) as fake:
        settings = load_settings(
            database_url=database_url,
            encryption_key=key,
            secret_key="loop-session-secret-0000000000000000",
            channel="twilio",
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
            twilio_from=OUR_NUMBER,
            public_base_url=public,
            twilio_api_base=fake.base_url,
            protocols_dir=PROTOCOLS,
            twilio_timeout_seconds=5,
            send_lease_seconds=60,
        )
        runtime = build(settings, clock=world.clock)
        with _Web(runtime, port):
            yield world, runtime, fake, settings
        runtime.close()
    world.engine.dispose()


def _enrol_by_cli(settings, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    env.update(
        {
            "CHECKUPS_DATABASE_URL": settings.database_url,
            "CHECKUPS_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),
            "CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS),
            "CHECKUPS_LOG_LEVEL": "WARNING",
        }
    )
    today = datetime.now(UTC).date().isoformat()
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "checkups",
            "enrol",
            "--org",
            "clinic",
            "--client-ref",
            "L-1",
            "--phone",
            PHONE,
            "--protocol",
            "standard-5y",
            "--discharge",
            today,
            "--consent-by",
            "key worker",
            "--tz",
            "Europe/London",
            "--days",
            "mon,tue,wed,thu,fri,sat,sun",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=60,
    )


def test_cli_enrolment_sms_reply_and_stop_through_twilio(loop, tmp_path: Path) -> None:
    world, runtime, fake, settings = loop
    enrolled = _enrol_by_cli(settings, tmp_path)
    assert enrolled.returncode == 0, enrolled.stderr

    ticker = Ticker(
        runtime.ctx,
        runtime.factory,
        lambda c: perform(runtime.ctx, runtime.factory, c.checkup_id, c.token),
        hand_out_inbound=lambda i: process_inbound(runtime.ctx, runtime.factory, i),
    )
    with runtime.factory() as session:
        first = session.scalars(select(Checkup)).one()
    world.clock.set(first.due_at + timedelta(minutes=1))
    ticker.tick()
    fake.settle()

    # The check-up went out through Twilio: one message, to the participant, valid only until the window ends.
    [sent] = [m for m in fake.messages if m.direction.startswith("outbound")]
    assert sent.to == PHONE
    assert sent.from_ == OUR_NUMBER
    assert "used at all" in sent.body
    assert sent.validity_period is not None
    assert 60 <= sent.validity_period <= 9 * 3600
    assert sent.status_callback == f"{settings.public_base_url}".rstrip("/") + "/twilio/status"
    with runtime.factory() as session:
        message = session.scalars(select(OutboundMessage)).one()
        assert message.provider_sid == sent.sid
        assert message.status == "delivered"  # the fake's signed status callbacks reached the web app

    # The participant replies to each question in turn; each signed webhook is stored and processed.
    sms_url = f"{settings.public_base_url}".rstrip("/") + "/twilio/sms"
    for body in ["N", "2", "9", "no thanks"]:
        assert fake.simulate_reply(sms_url, from_=PHONE, to=OUR_NUMBER, body=body).status == 200
    fake.settle()
    with runtime.factory() as session:
        assert set(session.scalars(select(InboundMessage.state))) == {"processed"}
        assert session.get(Checkup, first.id).status == CheckupStatus.answered.value
    # The check-up, three more questions, and the closing message.
    assert len([m for m in fake.messages if m.direction.startswith("outbound")]) == 5

    # STOP stops everything, at once and for good.
    fake.simulate_reply(
        f"{settings.public_base_url}".rstrip("/") + "/twilio/sms", from_=PHONE, to=OUR_NUMBER, body="STOP"
    )
    with runtime.factory() as session:
        assert session.scalars(select(Enrolment.status)).one() == "opted_out"
    for _ in range(40):
        world.clock.advance(timedelta(hours=6))
        ticker.tick()
    fake.settle()
    assert len([m for m in fake.messages if m.direction.startswith("outbound")]) == 5  # nothing after STOP


def test_yes_to_any_use_through_twilio_is_a_high_flag_due_in_24_hours_in_the_volunteer_list(
    loop, tmp_path: Path
) -> None:
    world, runtime, fake, settings = loop
    assert _enrol_by_cli(settings, tmp_path).returncode == 0
    ticker = Ticker(
        runtime.ctx, runtime.factory, lambda c: perform(runtime.ctx, runtime.factory, c.checkup_id, c.token)
    )
    with runtime.factory() as session:
        first = session.scalars(select(Checkup)).one()
    world.clock.set(first.due_at + timedelta(minutes=1))
    ticker.tick()
    fake.settle()
    sms_url = f"{settings.public_base_url}".rstrip("/") + "/twilio/sms"
    assert fake.simulate_reply(sms_url, from_=PHONE, to=OUR_NUMBER, body="Yes").status == 200

    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    env.update(
        {
            "CHECKUPS_DATABASE_URL": settings.database_url,
            "CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS),
            "CHECKUPS_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),
            "CHECKUPS_LOG_LEVEL": "WARNING",
        }
    )
    listed = subprocess.run(
        [sys.executable, "-m", "checkups", "flags", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    [flag] = json.loads(listed.stdout)
    assert flag["severity"] == "high"
    assert datetime.fromisoformat(flag["due_by"]) == world.clock.now() + timedelta(hours=24)
    assert any("Said they have used" in reason for reason in flag["reasons"])
