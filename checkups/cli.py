"""The one command line: ``checkups ...``.

Every command has ``--help``; errors exit non-zero with a one-line reason, never a traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from .settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="Recovery check-ups: enrol people at discharge, check in by SMS or voice, flag who needs a call.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
protocols_app = typer.Typer(help="List, validate and preview check-up protocols.", no_args_is_help=True)
app.add_typer(protocols_app, name="protocols")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line reason to stderr and exit with ``code``."""
    typer.echo(f"checkups: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        for problem in error.problems:
            typer.echo(f"checkups: bad setting: {problem}", err=True)
        raise typer.Exit(2) from None


# --- protocols ------------------------------------------------------------------------------------------


@protocols_app.command("list")
def protocols_list() -> None:
    """List the protocols in the protocols folder (CHECKUPS_PROTOCOLS_DIR)."""
    from .protocols.loader import load_directory
    from .protocols.schedule import due_dates

    directory = settings().protocols_dir
    if not directory.is_dir():
        fail(f"protocols folder {directory} does not exist (set CHECKUPS_PROTOCOLS_DIR)")
    results = load_directory(directory)
    if not results:
        fail(f"no protocol files (*.yaml) in {directory}")
    rows = []
    for result in results:
        protocol = result.protocol
        if result.ok and protocol is not None:
            count = len(due_dates(protocol.schedule.phases, date(2026, 1, 5)))
            phases = ", ".join(p.name for p in protocol.schedule.phases)
            rows.append((protocol.name, protocol.version, f"{count} check-ups", phases, protocol.title))
        else:
            rows.append(
                (
                    Path(result.file).stem,
                    "-",
                    "INVALID",
                    f"{len(result.errors)} errors",
                    "run: checkups protocols validate",
                )
            )
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(str(v).ljust(widths[i]) for i, v in enumerate(row[:4])) + "  " + row[4])


@protocols_app.command("validate")
def protocols_validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Protocol files or folders; default: the protocols folder.")
    ] = None,
) -> None:
    """Check protocol files: exit 0 when all are valid (warnings are printed), 1 otherwise."""
    from .protocols.loader import load_file, protocol_files

    files: list[Path] = []
    for path in paths or [settings().protocols_dir]:
        if path.is_dir():
            found = protocol_files(path)
            if not found:
                fail(f"no protocol files (*.yaml) in {path}")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            fail(f"{path}: no such file or folder")
    invalid = 0
    for file in files:
        result = load_file(file)
        for problem in result.problems:
            typer.echo(str(problem), err=not problem.warning)
        if result.ok:
            warnings = len(result.warnings)
            note = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
            typer.echo(f"{file}: valid, version {result.protocol.version}{note}")  # type: ignore[union-attr]
        else:
            invalid += 1
            typer.echo(f"{file}: INVALID, {len(result.errors)} error{'s' if len(result.errors) != 1 else ''}")
    if invalid:
        raise typer.Exit(1)


def _parse_window(text: str | None, days: str | None, default: object) -> object:
    from pydantic import ValidationError

    from .protocols.schema import SendWindow

    if text is None and days is None:
        return default
    start, end = (default.start.strftime("%H:%M"), default.end.strftime("%H:%M"))  # type: ignore[attr-defined]
    if text is not None:
        if "-" not in text:
            fail(f"--window {text!r}: expected HH:MM-HH:MM, e.g. 10:00-19:00")
        start, end = text.split("-", 1)
    day_list = days.split(",") if days is not None else list(default.days)  # type: ignore[attr-defined]
    try:
        return SendWindow.model_validate({"start": start, "end": end, "days": day_list})
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"--window/--days: {first['msg'].removeprefix('Value error, ')}")


@protocols_app.command("preview")
def protocols_preview(
    name: Annotated[str, typer.Argument(help="Protocol name, or the path of a protocol file.")],
    start: Annotated[str, typer.Option("--start", help="Anchor (discharge) date, YYYY-MM-DD.")],
    tz: Annotated[str, typer.Option("--tz", help="The participant's IANA time zone.")] = "Europe/London",
    window: Annotated[
        str | None, typer.Option("--window", help="Send window HH:MM-HH:MM; default: the protocol's.")
    ] = None,
    days: Annotated[
        str | None, typer.Option("--days", help="Days of the window, e.g. mon,tue,wed; default: the protocol's.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {seq, phase, local, utc}.")] = False,
) -> None:
    """Show every check-up of a protocol for someone discharged on --start."""
    from .protocols.loader import Catalog, UnknownProtocol, load_file
    from .protocols.schedule import UnknownTimeZone, expand, zone

    try:
        anchor = date.fromisoformat(start)
    except ValueError:
        fail(f"--start {start!r}: expected a date as YYYY-MM-DD")
    try:
        tzinfo = zone(tz)
    except UnknownTimeZone as error:
        fail(f"--tz: {error}")

    candidate = Path(name)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        result = load_file(candidate)
        if not result.ok or result.protocol is None:
            for problem in result.errors:
                typer.echo(str(problem), err=True)
            fail(f"{name} is not a valid protocol")
        protocol = result.protocol
    else:
        try:
            protocol = Catalog.from_directory(settings().protocols_dir).get(name)
        except UnknownProtocol as error:
            fail(str(error.args[0]))

    send_window = _parse_window(window, days, protocol.send_window)
    planned = expand(protocol, anchor, tzinfo, send_window)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps([p.as_json() for p in planned], indent=2))
        return
    typer.echo(
        f"{protocol.name} (version {protocol.version}) from {anchor.isoformat()} in {tz}: {len(planned)} check-ups"
    )
    typer.echo(f"{'seq':>4}  {'phase':<12}  {'local':<26}  utc")
    for item in planned:
        local = item.local.strftime("%a %Y-%m-%d %H:%M %Z")
        utc = item.utc.strftime("%Y-%m-%d %H:%MZ")
        typer.echo(f"{item.seq:>4}  {item.phase:<12}  {local:<26}  {utc}")


def main() -> None:
    """Entry point: run the app; turn an unexpected error into one line (the log has the detail)."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
