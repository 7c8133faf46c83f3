"""The ``retentio`` command group.

Each command module exposes ``register(app)``; this file wires them and owns the one error boundary:
domain errors become a one-line message on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from retentio.config import ConfigError
from retentio.errors import RetentioError

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
    def _group() -> None:
        """Self-hosted customer retention: ingest shop data, measure retention, predict and act."""
        # A callback keeps Typer in group mode even when only one command module is loaded.

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


def main() -> None:
    """Console-script entry point with the error boundary."""
    try:
        # Without standalone mode click *returns* the code of a `typer.Exit(code)`.
        result = build_app(modules_for(sys.argv[1:]))(standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool) and result != 0:
            sys.exit(result)
    except (RetentioError, ConfigError) as exc:
        _fail(f"error: {exc}", 2)
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
        raise
