"""The commands a newcomer and a treatment service run: db upgrade, enrol, run --demo (real processes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.conftest import PROTOCOLS


def checkups(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    clean["CHECKUPS_PROTOCOLS_DIR"] = str(PROTOCOLS)
    clean["CHECKUPS_LOG_LEVEL"] = "WARNING"
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "checkups", *args], capture_output=True, text=True, cwd=cwd, env=clean, timeout=timeout
    )


ENROL = [
    "enrol",
    "--org",
    "clinic-a",
    "--client-ref",
    "A-1",
    "--phone",
    "07700 900123",
    "--protocol",
    "standard-5y",
    "--discharge",
    "2026-11-20",
    "--consent-by",
    "Sam (key worker)",
    "--tz",
    "Europe/London",
]


def test_db_upgrade_then_enrol_is_idempotent_on_the_embedded_default(tmp_path: Path) -> None:
    upgraded = checkups("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "var" / "checkups.db").exists()
    first = checkups(*ENROL, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("enrolled: enrolment 1")
    again = checkups(*ENROL, cwd=tmp_path)
    assert again.returncode == 0
    assert "already enrolled: enrolment 1" in again.stdout
    # The embedded key was made once, private, next to the database.
    assert (tmp_path / "var" / "encryption.key").stat().st_mode & 0o777 == 0o600


def test_enrol_mistakes_get_one_line_naming_the_options(tmp_path: Path) -> None:
    checkups("db", "upgrade", cwd=tmp_path)
    bad = [a if a != "07700 900123" else "12345" for a in ENROL]
    bad = [a if a != "Europe/London" else "Europe/Narnia" for a in bad]
    result = checkups(*bad, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--phone:" in lines[0]
    assert "--timezone: unknown time zone" in lines[0]


def test_enrol_conflict_is_refused_with_the_reason(tmp_path: Path) -> None:
    checkups("db", "upgrade", cwd=tmp_path)
    checkups(*ENROL, cwd=tmp_path)
    other = [a if a != "2026-11-20" else "2026-10-01" for a in ENROL]
    result = checkups(*other, cwd=tmp_path)
    assert result.returncode == 1
    assert "already enrolled" in result.stderr
    assert "anchor date" in result.stderr


def test_postgres_without_an_encryption_key_refuses_to_start(tmp_path: Path, postgres_url: str) -> None:
    result = checkups(*ENROL, cwd=tmp_path, env={"CHECKUPS_DATABASE_URL": postgres_url})
    assert result.returncode == 2
    assert "CHECKUPS_ENCRYPTION_KEY is required" in result.stderr


def test_run_demo_sends_console_checkups_at_local_window_times(tmp_path: Path) -> None:
    # 10 simulated hours a second for 5 seconds: the first day of check-ups.
    result = checkups("run", "--demo", "--speed", "36000", "--for", "5", "--port", "0", cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "enrolled: demo-london (Europe/London)" in out
    sends = re.findall(r"^(SMS |CALL) (\w{3} \d\d \w{3} \d\d:\d\d) (\S+) to (\S+) \[(\w+)\]", out, re.M)
    assert sends, out
    zones = {
        "demo-london": "Europe/London",
        "demo-newyork": "America/New_York",
        "demo-sydney": "Australia/Sydney",
        "demo-mumbai": "Asia/Kolkata",
    }
    for _mode, when, _abbr, who, _kind in sends:
        local = datetime.strptime(when, "%a %d %b %H:%M")
        # standard-5y's window is 10:00-19:00 local, and the demo prints the participant's local time.
        assert 10 <= local.hour < 19, f"{who} at {when}"
        assert who in zones
    assert "+447700900" not in out  # the console echo shows who by reference, never the number
    assert ZoneInfo("Europe/London")


def test_run_demo_serves_the_pages_and_a_printed_account_signs_in(tmp_path: Path) -> None:
    """The README's main command as a newcomer uses it: open the printed address, sign in, see each job."""
    import socket
    import time

    import httpx

    from checkups.demo import DEMO_PASSWORD

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    env.update({"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS), "CHECKUPS_LOG_LEVEL": "WARNING"})
    process = subprocess.Popen(
        [sys.executable, "-m", "checkups", "run", "--demo", "--for", "60", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 45
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the demo did not serve its pages within 45 s"
            time.sleep(0.3)
        for email, page, expected in [
            ("volunteer@demo.example", "/queue", "Flag queue"),
            ("enroller@demo.example", "/participants", "demo-london"),
            ("lead@demo.example", "/dashboard", "<svg"),
        ]:
            with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as browser:
                login = browser.get("/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
                signed = browser.post(
                    "/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token, "next": "/"}
                )
                assert signed.status_code == 200, (email, signed.text[:500])
                shown = browser.get(page)
                assert shown.status_code == 200
                assert expected in shown.text, (email, page)
    finally:
        process.terminate()
        out, _err = process.communicate(timeout=30)
    assert f"staff pages: http://127.0.0.1:{port}/" in out
    assert "lead@demo.example" in out
    assert DEMO_PASSWORD in out
