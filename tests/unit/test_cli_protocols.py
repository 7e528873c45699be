"""`checkups protocols ...` through the real entry point, as a program lead would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def checkups(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    clean["CHECKUPS_PROTOCOLS_DIR"] = str(ROOT / "config" / "protocols")
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "checkups", *args], capture_output=True, text=True, env=clean, cwd=cwd, timeout=60
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout


def test_preview_rmc_from_2026_01_05_lists_16_quarterly_checkups_as_json() -> None:
    result = checkups("protocols", "preview", "rmc-quarterly-4y", "--start", "2026-01-05", "--json")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    assert len(items) == 16
    assert [i["seq"] for i in items] == list(range(1, 17))
    assert set(items[0]) == {"seq", "phase", "local", "utc"}
    assert items[0]["local"].startswith("2026-04-06T")  # 5 April 2026 is a Sunday; RMC's window skips it
    assert items[0]["utc"].endswith("+00:00")


def test_preview_prints_a_table_on_a_terminal() -> None:
    result = checkups("protocols", "preview", "rmc-quarterly-4y", "--start", "2026-01-05", "--tz", "America/New_York")
    assert result.returncode == 0, result.stderr
    assert "16 check-ups" in result.stdout
    assert "America/New_York" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.strip()[:2].strip().isdigit()]) == 16


def test_preview_with_a_custom_window_uses_it() -> None:
    result = checkups(
        "protocols",
        "preview",
        "standard-5y",
        "--start",
        "2026-01-05",
        "--window",
        "18:30-20:00",
        "--days",
        "sun",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    assert all("T18:30:00" in i["local"] for i in items)


def test_validate_shipped_protocols_exits_zero() -> None:
    result = checkups("protocols", "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": valid, version ") == 3


def test_validate_bad_file_reports_every_error_with_file_and_line_and_exits_one(tmp_path: Path) -> None:
    text = (ROOT / "config" / "protocols" / "standard-5y.yaml").read_text()
    text = text.replace("name: standard-5y", "name: bad").replace(
        "    severity: medium\n", "    severity: moderate\n", 1
    )
    text = text.replace("      for: 8 weeks\n", "      for: 8 weeks\n      colour: red\n", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = checkups("protocols", "validate", str(bad))
    assert_clean_failure(result)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{bad}:")]
    assert len(errors) == 2
    assert any("].severity: Input should be" in line for line in errors)
    assert any(".colour: unknown key" in line for line in errors)
    assert "INVALID, 2 errors" in result.stdout


def test_validate_prints_warnings_but_exits_zero(tmp_path: Path) -> None:
    text = (ROOT / "config" / "protocols" / "standard-5y.yaml").read_text().replace("name: standard-5y", "name: chatty")
    text = text.replace("Thanks, that's all for now. Take care.", "Thanks, and good luck with the treatment.")
    path = tmp_path / "chatty.yaml"
    path.write_text(text)
    result = checkups("protocols", "validate", str(path))
    assert result.returncode == 0
    assert "warning: telling word on a lock screen: 'treatment'" in result.stdout
    assert "valid, version" in result.stdout


def test_list_shows_the_shipped_protocols() -> None:
    result = checkups("protocols", "list")
    assert result.returncode == 0, result.stderr
    for name in ("standard-5y", "rmc-quarterly-4y", "tcc-12m"):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("protocols", "preview", "nope", "--start", "2026-01-05"), "no valid protocol named 'nope'"),
        (("protocols", "preview", "standard-5y", "--start", "05/01/2026"), "expected a date as YYYY-MM-DD"),
        (("protocols", "preview", "standard-5y", "--start", "2026-01-05", "--tz", "Mars/Base"), "unknown time zone"),
        (("protocols", "preview", "standard-5y", "--start", "2026-01-05", "--window", "19:00-10:00"), "must be after"),
        (("protocols", "validate", "/no/such/file.yaml"), "no such file or folder"),
    ],
)
def test_user_mistakes_get_one_line_and_no_traceback(args: tuple[str, ...], message: str) -> None:
    result = checkups(*args)
    assert_clean_failure(result)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_setting_stops_with_the_variable_named() -> None:
    result = checkups("protocols", "list", env={"CHECKUPS_CHANNEL": "pigeon"})
    assert_clean_failure(result)
    assert result.returncode == 2
    assert "CHECKUPS_CHANNEL" in result.stderr


@pytest.mark.parametrize("args", [(), ("protocols",), ("protocols", "preview")])
def test_help_is_available_everywhere(args: tuple[str, ...]) -> None:
    result = checkups(*args, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
