"""The ``retentio`` command group.

Each command module exposes ``register(app)``; this file wires them and owns the one error boundary:
domain errors become a one-line message on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from retentio.errors import EXIT_CODES, RetentioError

# One module per command group, in the order they appear in --help.
COMMAND_MODULES = (
    "retentio.cli.demo",
    "retentio.cli.generate",
    "retentio.cli.ingest",
    "retentio.cli.db",
    "retentio.cli.kpi",
    "retentio.cli.cohorts",
    "retentio.cli.rfm",
    "retentio.cli.segments",
    "retentio.cli.journey",
    "retentio.cli.clv",
    "retentio.cli.churn",
    "retentio.cli.recommend",
)
# Commands whose module name differs from the command (everything else: retentio.cli.<command>).
COMMAND_ALIASES = {"engagement": "retentio.cli.journey"}


def build_app(modules: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    """A Typer app with the commands of ``modules`` registered."""
    application = typer.Typer(
        name="retentio",
        help="Self-hosted customer retention: ingest shop data, measure retention, predict and act.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @application.callback()
    def _group(
        version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
    ) -> None:
        """Self-hosted customer retention: ingest shop data, measure retention, predict and act."""
        # A callback keeps Typer in group mode even when only one command module is loaded.
        if version:
            _print_version()

    for name in modules:
        importlib.import_module(name).register(application)
    return application


def modules_for(argv: list[str]) -> tuple[str, ...]:
    """Only the module of the command being run, so that ``retentio kpi`` does not pay for importing
    every other command's dependencies; ``--help``, no command or an unknown one load them all."""
    command = next((a for a in argv if not a.startswith("-")), None)
    module = COMMAND_ALIASES.get(command or "", f"retentio.cli.{command}")
    return (module,) if module in COMMAND_MODULES else COMMAND_MODULES


def __getattr__(name: str) -> typer.Typer:
    # `from retentio.cli.app import app` (tests, embedding) gets the full app, built on first use.
    if name == "app":
        global _full_app
        if _full_app is None:
            _full_app = build_app()
        return _full_app
    raise AttributeError(name)


_full_app: typer.Typer | None = None


def _fail(message: str, code: int) -> None:
    # Plain print: one line, never wrapped to the terminal width, no markup surprises.
    print(message.replace("\n", " "), file=sys.stderr)
    sys.exit(code)


def _print_version() -> None:
    from retentio import __version__

    print(f"retentio {__version__}")
    sys.exit(0)


def main() -> None:
    """Console-script entry point with the error boundary."""
    if sys.argv[1:] == ["--version"]:
        _print_version()
    try:
        # Without standalone mode click *returns* the code of a `typer.Exit(code)`.
        result = build_app(modules_for(sys.argv[1:]))(standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool) and result != 0:
            sys.exit(result)
    except RetentioError as exc:
        _fail(f"error: {exc}", EXIT_CODES[exc.category])
    except typer.Abort:
        _fail("aborted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors (unknown command, bad option) arrive here in non-standalone mode. Typer
        # vendors click, so recognise them by shape rather than by importing click.
        code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show") and isinstance(code, int):
            exc.show()
            sys.exit(code)
        message = describe_environment_error(exc)
        if message is None:
            raise
        _fail(f"error: {message}", 2)


# Errors of the world around us (files, the database, the snapshot engine) that reach the boundary
# without a domain error around them: one line, not a traceback. Recognised by module so that
# `retentio --help` does not import SQLAlchemy, psycopg or DuckDB.
_DATABASE_MODULES = ("sqlalchemy", "psycopg", "sqlite3", "duckdb", "_duckdb")


def describe_environment_error(exc: BaseException) -> str | None:
    """One line for an OS or database error, or None for anything else (a bug: keep the traceback)."""
    import errno

    if isinstance(exc, OSError) and not type(exc).__module__.startswith(_DATABASE_MODULES):
        where = exc.filename or ""
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"{where}: read-only or permission denied ({exc.strerror})"
        if exc.errno == errno.ENOSPC:
            return f"{where}: no space left on the device"
        return f"{where}: {exc.strerror or exc}" if where else str(exc)
    if type(exc).__module__.split(".")[0] in _DATABASE_MODULES:
        orig = getattr(exc, "orig", None) or exc
        text = str(orig).strip()
        first = text.splitlines()[0] if text else type(orig).__name__
        if "readonly" in first or "read-only" in first:
            return f"the store is read-only: {first}"
        return f"the store or the analytics snapshot failed: {first}"
    return None
