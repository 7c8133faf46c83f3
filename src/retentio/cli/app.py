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

app = typer.Typer(
    name="retentio",
    help="Self-hosted customer retention: ingest shop data, measure retention, predict and act.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _fail(message: str, code: int) -> None:
    # Plain print: one line, never wrapped to the terminal width, no markup surprises.
    print(message.replace("\n", " "), file=sys.stderr)
    sys.exit(code)


def main() -> None:
    """Console-script entry point with the error boundary."""
    try:
        # Without standalone mode click *returns* the code of a `typer.Exit(code)`.
        result = app(standalone_mode=False)
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
