"""A volunteer works the queue from the command line: list, show, claim, attempt, resolve (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from checkups.engine.flags import raise_flag
from checkups.models import AuditEvent, Flag, Participant
from checkups.runtime import build
from checkups.settings import load_settings
from tests.conftest import PROTOCOLS


def run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    env.update({"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS), "CHECKUPS_LOG_LEVEL": "WARNING"})
    return subprocess.run(
        [sys.executable, "-m", "checkups", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        input=stdin,
        timeout=60,
    )


def test_a_volunteer_works_a_flag_from_the_command_line(tmp_path: Path) -> None:
    assert run("db", "upgrade", cwd=tmp_path).returncode == 0
    assert (
        run(
            "enrol",
            "--org",
            "clinic",
            "--client-ref",
            "A-1",
            "--phone",
            "+447700900555",
            "--protocol",
            "standard-5y",
            "--discharge",
            "2026-11-01",
            "--consent-by",
            "key worker",
            cwd=tmp_path,
        ).returncode
        == 0
    )
    added = run(
        "users",
        "add",
        "sam@example.org",
        "--role",
        "volunteer",
        "--org",
        "clinic",
        "--password-stdin",
        cwd=tmp_path,
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    short = run(
        "users",
        "add",
        "x@example.org",
        "--role",
        "volunteer",
        "--org",
        "clinic",
        "--password-stdin",
        cwd=tmp_path,
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr

    # A risk rule raises a flag (the replies issue wires this to answers; here the engine call directly).
    runtime = build(
        load_settings(database_url=f"sqlite:///{tmp_path / 'var' / 'checkups.db'}", protocols_dir=PROTOCOLS)
    )
    with runtime.factory() as session, session.begin():
        participant_id = session.scalars(select(Participant.id)).one()
        now = runtime.ctx.now()
        flag_id = raise_flag(
            session,
            participant_id,
            "high",
            "Said they have used since the last check-in",
            now + timedelta(hours=24),
            now,
            "rule:any_use",
        ).id

    listed = run("flags", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["id"] == flag_id
    assert row["severity"] == "high"
    assert row["left"].endswith("left")
    assert "+447700900555" not in listed.stdout  # the list never shows numbers

    before = run("flags", "show", str(flag_id), "--as", "sam@example.org", cwd=tmp_path)
    assert "phone shown once you claim the flag" in before.stdout
    assert "+447700900555" not in before.stdout
    assert run("flags", "claim", str(flag_id), "--as", "sam@example.org", cwd=tmp_path).returncode == 0
    after = run("flags", "show", str(flag_id), "--as", "sam@example.org", cwd=tmp_path)
    assert "phone +447700900555" in after.stdout
    assert (
        run(
            "flags", "attempt", str(flag_id), "--as", "sam@example.org", "--result", "no_answer", cwd=tmp_path
        ).returncode
        == 0
    )
    bad = run("flags", "resolve", str(flag_id), "--as", "sam@example.org", "--outcome", "fine", cwd=tmp_path)
    assert bad.returncode == 1
    assert "outcome must be one of" in bad.stderr
    done = run(
        "flags",
        "resolve",
        str(flag_id),
        "--as",
        "sam@example.org",
        "--outcome",
        "re_engaged_treatment",
        "--notes",
        "booked in for Thursday",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert run("flags", "list", cwd=tmp_path).stdout.strip() == "no flags waiting"

    with runtime.factory() as session:
        assert session.get(Flag, flag_id).outcome == "re_engaged_treatment"
        views = session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "participant.viewed")).all()
    assert [v["phone_shown"] for v in views] == [False, True]
    runtime.close()


def test_unknown_volunteer_and_unknown_flag_get_one_line(tmp_path: Path) -> None:
    run("db", "upgrade", cwd=tmp_path)
    result = run("flags", "claim", "99", "--as", "nobody@example.org", cwd=tmp_path)
    assert result.returncode == 1
    assert "no active account" in result.stderr
    assert "Traceback" not in result.stderr
