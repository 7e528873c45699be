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
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
flags_app = typer.Typer(
    help="The queue of people who need a call: list, show, claim, attempt, resolve.", no_args_is_help=True
)
app.add_typer(flags_app, name="flags")


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


# --- database ---------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database (CHECKUPS_DATABASE_URL) to the newest schema."""
    from sqlalchemy.exc import OperationalError

    from .migrate import upgrade

    url = settings().database_url
    try:
        upgrade(url, revision)
    except OperationalError as error:
        fail(f"cannot reach the database: {error.orig or error}".splitlines()[0])
    typer.echo("database is up to date")


def _runtime(**kwargs: object):
    from .runtime import RuntimeError_, build

    try:
        return build(settings(), **kwargs)  # type: ignore[arg-type]
    except RuntimeError_ as error:
        fail(str(error), 2)


def _configure_logging(quiet: bool = False) -> None:
    """Set up logs; ``quiet`` (the demo) shows only warnings unless CHECKUPS_LOG_LEVEL says otherwise."""
    import os

    from .logging import configure

    s = settings()
    level = "WARNING" if quiet and "CHECKUPS_LOG_LEVEL" not in os.environ else s.log_level
    configure(log_format=s.log_format.value, level=level)


# --- enrolment ----------------------------------------------------------------------------------------------


def _time_option(value: str | None, name: str):
    from datetime import time

    if value is None:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        fail(f"{name} {value!r}: expected HH:MM")


@app.command("enrol")
def enrol_command(
    org: Annotated[str, typer.Option("--org", help="Organisation (short name); created if new.")],
    client_ref: Annotated[str, typer.Option("--client-ref", help="Your own reference for this client.")],
    phone: Annotated[str, typer.Option("--phone", help="Mobile number; national numbers use --region.")],
    protocol: Annotated[str, typer.Option("--protocol", help="Protocol name.")],
    discharge: Annotated[str, typer.Option("--discharge", help="Anchor (discharge) date, YYYY-MM-DD.")],
    consent_by: Annotated[str, typer.Option("--consent-by", help="Who recorded the consent.")],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone.")] = "Europe/London",
    consent_method: Annotated[str, typer.Option("--consent-method", help="written, verbal or electronic.")] = "verbal",
    consent_channels: Annotated[str, typer.Option("--consent-channels", help="sms,voice")] = "sms,voice",
    language: Annotated[str | None, typer.Option("--language")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="sms or voice; default: the protocol's.")] = None,
    window_start: Annotated[str | None, typer.Option("--window-start", help="HH:MM")] = None,
    window_end: Annotated[str | None, typer.Option("--window-end", help="HH:MM")] = None,
    days: Annotated[str | None, typer.Option("--days", help="e.g. mon,tue,wed,thu,fri")] = None,
    overdose_risk: Annotated[
        str | None,
        typer.Option("--overdose-risk", help="opioids, detox, residential, prison, opioid_treatment_stopped"),
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="First name or alias shown to volunteers.")] = None,
) -> None:
    """Enrol one person. Enrolling the same --org and --client-ref again changes nothing."""
    from .engine.enrolment import EnrolmentRequest, enrol, ensure_organisation
    from .engine.errors import EnrolmentConflict, InvalidEnrolment

    _configure_logging()
    try:
        anchor = date.fromisoformat(discharge)
    except ValueError:
        fail(f"--discharge {discharge!r}: expected a date as YYYY-MM-DD")
    rt = _runtime()
    with rt.factory() as session, session.begin():
        ensure_organisation(session, org, None, rt.ctx.now())
    request = EnrolmentRequest(
        organisation=org,
        client_ref=client_ref,
        phone=phone,
        timezone=tz,
        anchor_date=anchor,
        protocol=protocol,
        consent_by=consent_by,
        consent_method=consent_method,
        consent_channels=tuple(c.strip() for c in consent_channels.split(",") if c.strip()),
        language=language,
        channel=channel,
        window_start=_time_option(window_start, "--window-start"),
        window_end=_time_option(window_end, "--window-end"),
        window_days=tuple(d.strip() for d in days.split(",")) if days else None,
        overdose_risk=overdose_risk,
        alias=alias,
    )
    try:
        result = enrol(rt.ctx, rt.factory, request, actor="cli")
    except InvalidEnrolment as error:
        fail("; ".join(f"--{k.replace('_', '-')}: {v}" for k, v in error.errors.items()))
    except EnrolmentConflict as error:
        fail(error.reason)
    finally:
        rt.close()
    enrolment = result.enrolment
    if not result.created:
        typer.echo(f"already enrolled: enrolment {enrolment.id} ({enrolment.status}); nothing changed")
        return
    first = result.first_checkup
    when = "no check-up left in the protocol" if first is None else f"first check-up {first.due_at:%Y-%m-%d %H:%M}Z"
    typer.echo(f"enrolled: enrolment {enrolment.id}, participant {enrolment.participant_id}; {when}")


# --- processes ------------------------------------------------------------------------------------------------


@app.command("worker")
def worker_command(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")] = 2,
    pool: Annotated[str, typer.Option("--pool", help="prefork, solo or threads.")] = "prefork",
) -> None:
    """Run a Celery worker (needs CHECKUPS_REDIS_URL)."""
    s = settings()
    if not s.redis_url:
        fail("CHECKUPS_REDIS_URL is not set: a worker needs Redis (or use `checkups run` for the embedded mode)", 2)
    _configure_logging()
    from .tasks.app import QUEUE
    from .tasks.app import app as celery_app

    celery_app.worker_main(
        [
            "worker",
            "--loglevel",
            s.log_level,
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "-Q",
            QUEUE,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


@app.command("scheduler")
def scheduler_command(
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between ticks.")] = 5.0,
) -> None:
    """Run the scheduler: ticks that claim due check-ups and hand them to the workers (one leader at a time)."""
    s = settings()
    if not s.redis_url:
        fail("CHECKUPS_REDIS_URL is not set: the scheduler hands work to Celery workers through Redis", 2)
    _configure_logging()
    from .engine.ticker import Ticker
    from .scheduling import run_ticks
    from .tasks.actions import perform_action, process_inbound_task

    rt = _runtime()

    def hand_out(claim) -> None:
        perform_action.apply_async(args=(claim.checkup_id, claim.token))

    ticker = Ticker(rt.ctx, rt.factory, hand_out, hand_out_inbound=lambda i: process_inbound_task.delay(i))
    run_ticks(ticker, interval)


@app.command("run")
def run_command(
    demo: Annotated[bool, typer.Option("--demo", help="Enrol four demo people and demo staff accounts.")] = False,
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            min=1,
            help="With --demo: simulated seconds per real second (3600: a day in 24 s; the pages age as fast).",
        ),
    ] = 1.0,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Real seconds between ticks.")] = 1.0,
    duration: Annotated[
        float | None, typer.Option("--for", help="Stop after this many real seconds (default: run until Ctrl-C).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address of the staff pages and webhooks.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 8000,
    web: Annotated[bool, typer.Option("--web/--no-web", help="Serve the pages, API and webhooks too.")] = True,
) -> None:
    """Run everything in one process: the scheduler tick, the tasks and the web app, on the embedded default."""
    from datetime import UTC, datetime

    from .clock import AcceleratedClock, SystemClock
    from .engine.ticker import Ticker
    from .migrate import upgrade
    from .scheduling import run_ticks

    _configure_logging(quiet=demo)
    s = settings()
    upgrade(s.database_url)
    # The demo starts now: each demo person's first check-up is due on their local today, and between the four
    # zones someone is inside their send window at any hour (unless it is Sunday in all four), so a first
    # check-up goes out within seconds.
    clock = AcceleratedClock(datetime.now(UTC), speed) if demo else SystemClock()
    rt = _runtime(clock=clock, echo=sys.stdout)
    if demo:
        from .demo import seed

        interval = min(interval, 0.2)
        for line in seed(rt):
            typer.echo(line)
        pace = "real time (--speed 3600 runs a day in 24 s)" if speed == 1 else f"{speed:g}x"
        typer.echo(f"demo clock: {pace}; Ctrl-C to stop")

    from .engine.dispatch import perform
    from .engine.inbound import process_inbound

    def hand_out(claim) -> None:
        perform(rt.ctx, rt.factory, claim.checkup_id, claim.token)

    ticker = Ticker(rt.ctx, rt.factory, hand_out, hand_out_inbound=lambda i: process_inbound(rt.ctx, rt.factory, i))
    typer.echo(f"checkups running on {s.database_url} with the {s.channel.value} channel")
    server = _serve_in_thread(rt, host, port) if web else None
    if demo:
        from .demo import DEMO_PASSWORD, ensure_accounts

        accounts = ensure_accounts(rt)
        if server is not None:
            typer.echo("sign in with any of these accounts, password " + DEMO_PASSWORD + ":")
            for line in accounts:
                typer.echo("  " + line)
    try:
        run_ticks(ticker, interval, duration)
    finally:
        if server is not None:
            server.should_exit = True


def _serve_in_thread(rt, host: str, port: int):
    """The web app (pages, API, webhooks) in a thread of this process, sharing its runtime and clock."""
    import threading
    import time as _time

    import uvicorn

    from .web.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(rt), host=host, port=port, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            fail(f"cannot serve on {host}:{port} (in use?); pass --port or --no-web", 2)
        _time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104 - only to print a usable address
    typer.echo(f"staff pages: http://{shown}:{bound[1]}/")
    return server


@app.command("simulate")
def simulate_command(
    people: Annotated[
        int, typer.Option("--people", help="Cohort size (at most 81,000: the reserved numbers).", min=1, max=81_000)
    ] = 200,
    years: Annotated[float, typer.Option("--years", help="Simulated years (fractions allowed).", min=0.01)] = 1.0,
    protocol: Annotated[str, typer.Option("--protocol", help="Protocol name.")] = "standard-5y",
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same figures.")] = 1,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="An empty database to run the whole cohort in, in one process; default: SQLite files in "
            "var/simulate-<seed>/, one per worker, recreated each run.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes to run the cohort in (default: one per CPU, at least 50 people each); the figures "
            "do not depend on it.",
            min=1,
        ),
    ] = None,
    volunteer_capacity: Annotated[
        int | None,
        typer.Option(
            "--volunteer-capacity",
            help="Flags the volunteers call per simulated day (default: 20 for every 1,000 people, at least 20).",
            min=0,
        ),
    ] = None,
    sms_price: Annotated[float, typer.Option("--sms-price", help="Price of one SMS segment.", min=0)] = 0.04,
    minutes_per_flag: Annotated[
        float,
        typer.Option("--minutes-per-flag", help="Volunteer minutes one flag takes (for hours needed per week).", min=0),
    ] = 30.0,
    report: Annotated[
        Path, typer.Option("--report", help="Where to write the HTML report with charts.", dir_okay=False)
    ] = Path("var/simulate-report.html"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run a synthetic cohort through the real engine on a simulated clock, print what happened, and write
    an HTML report with charts."""
    from sqlalchemy.exc import OperationalError

    from .migrate import upgrade
    from .protocols.loader import UnknownProtocol
    from .simulate import (
        Simulation,
        SimulationError,
        default_shards,
        ensure_empty,
        format_summary,
        prepare_shards,
        terminal_progress,
    )
    from .simulate_report import render

    if database_url is not None and workers is not None:
        fail("--workers splits the cohort over SQLite files of its own; with --database-url it runs in one process")
    _configure_logging(quiet=True)
    s = settings()
    try:
        if database_url is None:
            shards = min(workers, people) if workers else default_shards(people)
            urls = prepare_shards(Path("var") / f"simulate-{seed}", shards)
        else:
            ensure_empty(database_url)  # before migrating: a database in use is refused untouched
            upgrade(database_url)
            urls = [database_url]
    except SimulationError as error:
        fail(str(error))
    except OperationalError as error:
        fail(f"cannot reach the database: {error.orig or error}".splitlines()[0])
    except OSError as error:
        fail(f"cannot create the simulation's databases in var/: {error.strerror or error}")
    sim = Simulation(
        urls,
        people_count=people,
        years=years,
        protocol=protocol,
        seed=seed,
        volunteer_capacity=volunteer_capacity,
        sms_price=sms_price,
        minutes_per_flag=minutes_per_flag,
        protocols_dir=s.protocols_dir,
        progress=terminal_progress(),
    )
    try:
        summary = sim.run()
    except UnknownProtocol as error:
        fail(str(error.args[0]))
    except SimulationError as error:
        fail(str(error))
    page = render(summary, sim.series())
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(page, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write the report to {report}: {error.strerror or error}")
    if as_json:
        typer.echo(json.dumps({**summary, "report": str(report)}, indent=2))
    else:
        typer.echo(format_summary(summary))
        typer.echo(f"\nReport: {report}")


@app.command("web")
def web_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Web server processes.")] = 1,
) -> None:
    """Serve the web app: staff pages, the REST API, Twilio webhooks and /healthz. No scheduler runs here."""
    import uvicorn

    settings()  # fail early, with the variable named, on a bad setting
    _configure_logging()
    uvicorn.run(
        "checkups.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_config=None,
    )


# --- users -----------------------------------------------------------------------------------------------------


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The person's email; they log in with it.")],
    role: Annotated[str, typer.Option("--role", help="admin, lead, enroller or volunteer.")] = "admin",
    org: Annotated[str | None, typer.Option("--org", help="Organisation (every role but admin).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create a staff account (the first admin, for a start). Asks for the password unless --password-stdin."""
    from .engine.enrolment import ensure_organisation
    from .engine.users import UserError, add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    rt = _runtime()
    try:
        with rt.factory() as session, session.begin():
            if org is not None:
                ensure_organisation(session, org, None, rt.ctx.now())
            user = add_user(session, email, role, org, password, rt.ctx.now(), actor="cli")
            typer.echo(f"created {user.role} {user.email} (user {user.id})")
    except UserError as error:
        fail(str(error))
    finally:
        rt.close()


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Argument(help="The account the token acts as.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "api",
) -> None:
    """Issue a REST API token for an account. It is printed once; only its hash is kept."""
    from .engine.users import UserError, by_email, issue_token

    rt = _runtime()
    try:
        with rt.factory() as session, session.begin():
            token = issue_token(session, by_email(session, email), label, rt.ctx.now(), actor="cli")
    except UserError as error:
        fail(str(error))
    finally:
        rt.close()
    typer.echo(token)


# --- flags ------------------------------------------------------------------------------------------------------


def _left(due, now) -> str:
    seconds = (due - now).total_seconds()
    hours = abs(seconds) / 3600
    text = f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h" if hours >= 1 else f"{abs(seconds) / 60:.0f} min"
    return f"OVERDUE {text}" if seconds < 0 else f"{text} left"


def _volunteer(session, email: str):
    from .engine.users import UserError, by_email

    try:
        return by_email(session, email)
    except UserError as error:
        fail(str(error))


@flags_app.command("list")
def flags_list(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="urgent, high, medium or low.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Unresolved flags, most severe first, then by deadline."""
    from sqlalchemy import select

    from .engine.flags import queue
    from .models import Organisation, Participant

    rt = _runtime()
    with rt.factory() as session:
        org_id = None
        if org is not None:
            org_id = session.scalars(select(Organisation.id).where(Organisation.slug == org)).first()
            if org_id is None:
                fail(f"unknown organisation {org!r}")
        now = rt.ctx.now()
        rows = []
        for flag in queue(session, org_id, severity):
            participant = session.get(Participant, flag.participant_id)
            rows.append(
                {
                    "id": flag.id,
                    "severity": flag.severity,
                    "state": flag.state,
                    "due_by": flag.due_by.isoformat(),
                    "left": _left(flag.due_by, now),
                    "escalated": flag.escalated_at is not None,
                    "participant_id": flag.participant_id,
                    "client_ref": participant.client_ref if participant else None,
                    "reasons": [r["reason"] for r in flag.reasons],
                }
            )
    rt.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no flags waiting")
        return
    for r in rows:
        mark = " ESCALATED" if r["escalated"] else ""
        typer.echo(
            f"#{r['id']:<5} {r['severity'].upper():<7} {r['left']:<16} {r['state']:<8} "
            f"participant {r['participant_id']} ({r['client_ref']}){mark}: {'; '.join(r['reasons'])}"
        )


@flags_app.command("show")
def flags_show(
    flag_id: Annotated[int, typer.Argument()],
    user: Annotated[str, typer.Option("--as", help="Your account email (the view is audited).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A flag, why it was raised, and the person's timeline. The number is shown only to whoever claimed it."""
    from .engine import audit
    from .engine.timeline import timeline
    from .models import Flag, Participant

    rt = _runtime()
    with rt.factory() as session, session.begin():
        me = _volunteer(session, user)
        flag = session.get(Flag, flag_id)
        if flag is None or (me.organisation_id is not None and flag.organisation_id != me.organisation_id):
            fail(f"no flag {flag_id}")
        participant = session.get(Participant, flag.participant_id)
        phone = rt.ctx.vault.decrypt(participant.phone_cipher) if flag.claimed_by == me.id else None
        events = timeline(rt.ctx, session, flag.participant_id)
        audit.record(
            session,
            rt.ctx.now(),
            f"user:{me.id}",
            "participant.viewed",
            "participant",
            participant.id,
            flag_id=flag_id,
            phone_shown=phone is not None,
        )
        data = {
            "id": flag.id,
            "severity": flag.severity,
            "state": flag.state,
            "due_by": flag.due_by.isoformat(),
            "reasons": flag.reasons,
            "participant_id": participant.id,
            "client_ref": participant.client_ref,
            "phone": phone,
            "timeline": [e.as_json() for e in events],
        }
    rt.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"flag #{data['id']}: {data['severity'].upper()}, {data['state']}, due {data['due_by']}")
    for reason in data["reasons"]:
        typer.echo(f"  why: {reason['reason']}")
    typer.echo(
        f"  participant {data['participant_id']} ({data['client_ref']}); "
        + (f"phone {phone}" if phone else "phone shown once you claim the flag")
    )
    for event in data["timeline"][:30]:
        text = event["detail"].get("text")
        typer.echo(f"  {event['at'][:16]}  {event['summary']}" + (f'  "{text}"' if text else ""))


def _flag_change(flag_id: int, user: str, change) -> None:
    from .engine.flags import FlagError
    from .models import Flag

    rt = _runtime()
    try:
        with rt.factory() as session, session.begin():
            me = _volunteer(session, user)
            flag = session.get(Flag, flag_id)
            if flag is None or (me.organisation_id is not None and flag.organisation_id != me.organisation_id):
                fail(f"no flag {flag_id}")
            typer.echo(change(session, me, rt.ctx.now()))
    except FlagError as error:
        fail(str(error))
    finally:
        rt.close()


@flags_app.command("claim")
def flags_claim(flag_id: int, user: Annotated[str, typer.Option("--as", help="Your account email.")]) -> None:
    """Take a flag: it is yours to call; nobody else can claim it."""
    from .engine.flags import claim

    def change(session, me, now) -> str:
        claim(session, flag_id, me.id, now)
        return f"flag #{flag_id} is yours"

    _flag_change(flag_id, user, change)


@flags_app.command("attempt")
def flags_attempt(
    flag_id: int,
    user: Annotated[str, typer.Option("--as", help="Your account email.")],
    result: Annotated[str, typer.Option("--result", help="reached, no_answer, voicemail, wrong_number, other")],
    notes: Annotated[str | None, typer.Option("--notes")] = None,
) -> None:
    """Log one try to reach the person."""
    from .engine.flags import log_attempt

    def change(session, me, now) -> str:
        log_attempt(session, flag_id, me.id, result, notes, now)
        return f"attempt logged on flag #{flag_id}"

    _flag_change(flag_id, user, change)


@flags_app.command("release")
def flags_release(
    flag_id: int,
    user: Annotated[str, typer.Option("--as", help="Your account email.")],
    to: Annotated[str | None, typer.Option("--to", help="Hand it to this volunteer instead.")] = None,
) -> None:
    """Put a flag back in the queue, or hand it over."""
    from .engine.flags import release

    def change(s, me, now):
        target = _volunteer(s, to).id if to else None
        release(s, flag_id, me.id, now, to_user=target)
        return f"flag #{flag_id} " + (f"handed to {to}" if to else "is back in the queue")

    _flag_change(flag_id, user, change)


@flags_app.command("resolve")
def flags_resolve(
    flag_id: int,
    user: Annotated[str, typer.Option("--as", help="Your account email.")],
    outcome: Annotated[
        str,
        typer.Option(
            "--outcome",
            help=(
                "re_engaged_treatment, referred_recovery_support, no_action_needed, not_reached, wrong_number, "
                "declined_contact"
            ),
        ),
    ],
    notes: Annotated[str | None, typer.Option("--notes")] = None,
) -> None:
    """Close a flag you claimed, with its outcome."""
    from .engine.flags import resolve

    def change(session, me, now) -> str:
        resolve(session, flag_id, me.id, outcome, notes, now)
        return f"flag #{flag_id} resolved: {outcome}"

    _flag_change(flag_id, user, change)


def main() -> None:
    """Entry point: run the app; turn an unexpected error into one line (the log has the detail)."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug: one line here, the traceback only when asked for
        import os
        import traceback

        if os.environ.get("CHECKUPS_LOG_LEVEL", "").upper() == "DEBUG":
            traceback.print_exc()
        first = str(error).splitlines()[0] if str(error) else ""
        typer.echo(
            f"checkups: unexpected error: {type(error).__name__}: {first} "
            "(CHECKUPS_LOG_LEVEL=DEBUG shows the traceback)",
            err=True,
        )
        sys.exit(1)
