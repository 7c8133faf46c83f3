"""Helpers shared by the command modules: settings, output formats, progress bars."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from retentio.analytics.render import OutputFormat
from retentio.config import Settings

if TYPE_CHECKING:
    from retentio.app import App

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


# Options several commands share (same flag, same help).
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Ignore data from this local date on (default: today).")
]
SegmentOption = Annotated[
    str | None, typer.Option("--segment", help="Only the current members of this rule segment.")
]
LocaleOption = Annotated[str | None, typer.Option("--locale", help="en or ru (default: RETENTIO_LOCALE).")]


def emit(text: str) -> None:
    """Print ``text`` on stdout, adding a newline only if it does not end with one."""
    typer.echo(text, nl=not text.endswith("\n"))


def settings() -> Settings:
    """Settings from the environment (``RETENTIO_HOME``, ``RETENTIO_DATABASE_URL``, ...)."""
    return Settings.from_env()


def app_of(ctx: typer.Context) -> App:
    """The application context of this command invocation: built from the environment on first
    use, kept on the root click context, closed when the command ends."""
    from retentio.app import App

    root = ctx.find_root()
    if not isinstance(root.obj, App):
        root.obj = App(Settings.from_env())
        root.call_on_close(root.obj.close)
    return root.obj


def segment_members(app: App, name: str) -> list[str]:
    """Current members of rule segment ``name`` (the ``--segment`` option of analytic commands)."""
    from retentio.segments import service as segments

    return segments.member_ids(app, name)


@contextmanager
def app_context() -> Iterator[App]:
    """The command's application context, built from the environment and closed at the end."""
    from retentio.app import App

    app = App(Settings.from_env())
    try:
        yield app
    finally:
        app.close()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """One JSON document on stdout, full precision, UTF-8 as is."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=_default) + "\n")


class IngestProgress:
    """Progress on stderr for long work: the current stage, and a bar while rows are written.

    Shown only on a terminal and only once the work has taken more than ``delay_s`` seconds, so
    quick commands print nothing extra and piped output stays clean.
    """

    def __init__(self, enabled: bool = True, delay_s: float = 1.0) -> None:
        self.enabled = enabled and err_console.is_terminal
        self.delay_s = delay_s
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None
        self.description = ""
        self.total: int | None = None

    def _visible(self) -> Progress | None:
        if not self.enabled or time.monotonic() - self.started < self.delay_s:
            return None
        if self.progress is None:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=self.total)
        return self.progress

    def stage(self, description: str, total: int) -> Callable[[int], None]:
        """Enter a stage; returns ``advance(n)`` for stages with a known number of rows."""
        self.description = description
        self.total = total or None
        shown = self._visible()
        if shown is not None:
            # A fresh task per stage: Rich cannot reset a task's total to "unknown".
            shown.remove_task(self.task)
            self.task = shown.add_task(description, total=self.total)
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            visible = self._visible()
            if visible is not None:
                visible.update(self.task, completed=done[0])

        return advance

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def progress(enabled: bool = True) -> Iterator[IngestProgress]:
    bar = IngestProgress(enabled)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def status(message: str, enabled: bool = True) -> Iterator[None]:
    """A spinner on stderr for work without a known size."""
    if enabled and err_console.is_terminal:
        with err_console.status(message):
            yield
    else:
        yield
