"""The ``kilowatch`` command: migrate, serve, import, schema.

Heavy modules (uvicorn, the schema, pandas) are imported inside the subcommand that needs them so that
``kilowatch --help`` and short commands start quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from app.cli.tokens import add_token_commands, announce_access, announce_bootstrap_token, refuse_open_access
from app.config import Settings
from app.errors import InvalidInput, KilowatchError

if TYPE_CHECKING:
    from starlette.applications import Starlette

console = Console(stderr=True)
#: What Alembic logs at INFO on every connection, migration or not.
ALEMBIC_CHATTER = ("Context impl ", "Will assume ")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_alembic()
    try:
        return int(arguments.handler(arguments, settings) or 0)
    except KilowatchError as error:
        console.print(f"[red]error:[/red] {error.message}")
        return 2


def _quiet_alembic() -> None:
    """Every command checks the schema; Alembic says so at INFO each time. Only its migrations are news.

    Its plugin announcements and the two lines it logs on every connection ("Context impl …", "Will
    assume …") are dropped below DEBUG; "Running upgrade …" lines stay, as they appear only when a
    migration runs.
    """
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").addFilter(
        lambda record: not record.getMessage().startswith(ALEMBIC_CHATTER)
    )


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: …)" to every option whose default is a value; an unset option's help says what happens."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every subcommand's parser is one of these (argparse makes subparsers of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kilowatch", description="Model performance tracking for energy management.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="upgrade the configured database to the newest schema")
    migrate.set_defaults(handler=_migrate)

    serve = commands.add_parser("serve", help="migrate if needed, then serve the API, GraphiQL and health endpoints")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port")
    serve.add_argument("--demo", action="store_true", help="embedded mode, empty database: fill it with the demo first")
    serve.add_argument("--workers", type=int, default=1, help="API processes sharing the port (production mode)")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run training jobs and maintenance crons from Redis (production mode)")
    worker.set_defaults(handler=_worker)

    load = commands.add_parser("import", help="bulk-load readings from a CSV file (all or nothing)")
    load.add_argument(
        "file", type=Path, help="CSV, header line timestamp,energy_kwh[,production_units,outdoor_temp_c,is_anomaly]"
    )
    load.add_argument("--machine", required=True, help="machine name; created if it does not exist")
    load.add_argument(
        "--timezone",
        help="IANA zone (e.g. Europe/Berlin, or UTC) of timestamps written without an offset; without it such "
        "timestamps are refused, as the API refuses them",
    )
    load.add_argument(
        "--delimiter", type=_delimiter, help="column separator (',', ';', 'tab', '|'); without it, read from the header"
    )
    load.set_defaults(handler=_import)

    demo = commands.add_parser(
        "demo", help="fill the database with a demo fleet: a year of readings, trained models, monitoring, an A/B test"
    )
    demo.add_argument("--machines", type=int, help="how many of the six demo machines (default: all)")
    demo.add_argument("--days", type=int, help="days of hourly readings per machine (default: 365)")
    demo.set_defaults(handler=_demo)

    schema = commands.add_parser("schema", help="write the GraphQL schema (SDL) to a file")
    schema.add_argument("--output", type=Path, default=Path("schema.graphql"), help="file to write")
    schema.set_defaults(handler=_schema)
    add_token_commands(commands)
    return parser


def _delimiter(text: str) -> str:
    """A one-character separator; ``tab`` (or a typed backslash-t) for a tab, which shells make hard to pass."""
    separator = "\t" if text.lower() in ("tab", "\\t") else text
    if len(separator) != 1:
        raise argparse.ArgumentTypeError(f"a delimiter is one character (or 'tab'), not {text!r}")
    return separator


def _version() -> str:
    try:
        return metadata.version("kilowatch")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _migrate(_: argparse.Namespace, settings: Settings) -> int:
    from app.db.migrate import upgrade_to_head

    asyncio.run(upgrade_to_head(settings.database_url))
    console.print(f"database at newest schema: {_redacted(settings.database_url)}")
    return 0


def _serve(arguments: argparse.Namespace, settings: Settings) -> int:
    refuse_open_access(settings, arguments.host)
    _check_workers(arguments.workers, settings)
    import uvicorn

    from app.db.migrate import upgrade_to_head

    asyncio.run(upgrade_to_head(settings.database_url))
    if arguments.demo:
        _demo_on_first_start(settings)
    announce_bootstrap_token(settings, arguments.host, arguments.port)
    mode = "embedded (SQLite, in-process jobs)" if settings.embedded else "production (Redis workers)"
    console.print(f"Kilowatch {_version()} {mode} on {_redacted(settings.database_url)}")
    announce_access(settings, arguments.host, arguments.port)
    options: dict[str, Any] = {
        "host": arguments.host,
        "port": arguments.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": settings.log_level.lower(),
        "ws": "websockets-sansio",
        # Live messages are a few hundred bytes; compressing each one per subscriber took ~30% of the
        # process's time when one alert went to 1,000 subscribers (bench/fanout.py), for little saved.
        "ws_per_message_deflate": False,
    }
    if arguments.workers == 1:
        uvicorn.run(serving_app(settings), **options)
    else:
        from app.http.process_metrics import shared_by_child_processes

        # Each worker process builds its application from the same environment the settings came from.
        with shared_by_child_processes():
            uvicorn.run(f"{__name__}:serving_app", factory=True, workers=arguments.workers, **options)
    return 0


def _check_workers(workers: int, settings: Settings) -> None:
    """Several API processes need what they share to live outside them.

    That is the database, and Redis for jobs, live updates and rate limits; embedded mode keeps jobs,
    maintenance and the event hub inside its one process.
    """
    if workers < 1:
        raise InvalidInput("--workers must be at least 1", field="workers")
    if workers > 1 and settings.embedded:
        raise InvalidInput(
            "--workers above 1 needs production mode (KILOWATCH_REDIS_URL set): embedded mode runs jobs, "
            "maintenance and live updates inside its one process",
            field="workers",
        )


def serving_app(settings: Settings | None = None) -> Starlette:
    """The application one `kilowatch serve` process runs, its access log redacted.

    The collector keeps CPython's thresholds (see ``app.http.heap`` for why, and what was measured).
    """
    from app.http.access_log import redact_access_log
    from app.http.web import create_app

    redact_access_log()
    return create_app(settings or Settings())


def _worker(_: argparse.Namespace, settings: Settings) -> int:
    from app.db.migrate import upgrade_to_head
    from workers.run import run_workers

    if not settings.redis_url:
        raise InvalidInput(
            "kilowatch worker needs KILOWATCH_REDIS_URL; in embedded mode `kilowatch serve` trains in-process"
        )
    asyncio.run(upgrade_to_head(settings.database_url))
    asyncio.run(run_workers(settings))
    return 0


def _import(arguments: argparse.Namespace, settings: Settings) -> int:
    from app.cli.csv_import import import_file

    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        result = asyncio.run(
            import_file(settings, arguments.file, arguments.machine, arguments.timezone, arguments.delimiter, progress)
        )
    elapsed = time.perf_counter() - started
    total = result.inserted + result.updated
    console.print(
        f"{arguments.machine}: {result.inserted} inserted, {result.updated} updated "
        f"in {elapsed:.1f} s ({total / max(elapsed, 1e-9):,.0f} readings/s)"
    )
    return 0


def _demo(arguments: argparse.Namespace, settings: Settings) -> int:
    given = {name: getattr(arguments, name) for name in ("machines", "days") if getattr(arguments, name) is not None}
    _run_demo(settings, **given)
    return 0


def _demo_on_first_start(settings: Settings) -> None:
    from app.cli.demo import skip_reason

    reason = asyncio.run(skip_reason(settings))
    if reason is not None:
        console.print(f"demo skipped: {reason}")
        return
    _run_demo(settings)


def _run_demo(settings: Settings, **given: int) -> None:
    """``given``: the DemoOptions the user set; the rest keep their defaults."""
    from app.cli import demo

    if not settings.embedded:
        console.print("Training runs on `kilowatch worker` processes: keep at least one running with these settings.")
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        summary = asyncio.run(demo.run(settings, demo.DemoOptions(**given), progress))
    alerts = ", ".join(f"{count} {kind}" for kind, count in sorted(summary.open_alerts.items())) or "none"
    console.print(
        f"Demo ready in {time.perf_counter() - started:.0f} s: {summary.machines} machines, {summary.readings:,} "
        f"readings, {summary.models_trained} models trained, {summary.evaluations} monitoring evaluations, "
        f"open alerts: {alerts}; A/B test {summary.ab_test_id} running."
    )


def _schema(arguments: argparse.Namespace, _: Settings) -> int:
    from graphql_schema.schema import export_sdl

    changed = export_sdl(arguments.output)
    console.print(f"{arguments.output}: {'updated' if changed else 'already current'}")
    return 0


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
