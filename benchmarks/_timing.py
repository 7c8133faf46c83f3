"""How every benchmark times its contenders and says what it ran on.

One rule for all the scripts in this folder: ours and each peer (or practical limit) are run the
same number of times, in turn — ours, peer, ours, peer, … — so that a machine that speeds up or slows
down during the run affects both sides alike, and the *median* of each side is reported. Beside the
figures goes one line naming the versions of everything that can move them (:func:`environment`).

A contender is a function without arguments. It is timed from call to return, unless it returns a
:class:`Lap`: then it has measured its own timed region (used when each run needs untimed set-up,
such as a fresh store for an ingest) and that figure is used.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# The libraries whose versions can move a figure, by distribution name, in the order printed.
LIBRARIES = ("numpy", "pandas", "pyarrow", "duckdb", "ibis-framework", "lifetimes", "lightgbm", "psycopg")


@dataclass(frozen=True)
class Lap:
    """A contender's own measurement of its timed region, and what it computed."""

    seconds: float
    value: Any = None


@dataclass
class Timing:
    """Every run's time of one contender and the last run's result."""

    name: str
    seconds: list[float] = field(default_factory=list)
    result: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def runs(self) -> str:
        """The individual times, for the notes under a table."""
        return ", ".join(f"{s:.3f}" for s in self.seconds)


def alternate(contenders: Mapping[str, Callable[[], Any]], runs: int) -> dict[str, Timing]:
    """Run every contender ``runs`` times, in turn (A, B, C, A, B, C, …); every time is kept.

    Nothing is discarded as a warm-up: every side gets the same number of runs in the same
    positions, so a cold first run (page cache, JIT of a query plan) costs each side once.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    timings = {name: Timing(name) for name in contenders}
    for _ in range(runs):
        for name, run in contenders.items():
            started = time.perf_counter()
            value = run()
            elapsed = time.perf_counter() - started
            if isinstance(value, Lap):
                elapsed, value = value.seconds, value.value
            timings[name].seconds.append(elapsed)
            timings[name].result = value
    return timings


def goal_line(label: str, ratio: float, passed: bool, goal: str) -> str:
    """``PASS``/``FAIL`` line of a goal with the measured ratio, e.g. for a summary under a table."""
    return f"{'PASS' if passed else 'FAIL'}: {label}: {ratio:.2f}× (goal {goal})"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _commit() -> str | None:
    """The retentio commit measured (with ``+dirty`` for uncommitted changes), if this is a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def postgres_server_version(url: str) -> str:
    """The PostgreSQL server's version (connects: call it only when PostgreSQL is measured)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def environment(
    libraries: Iterable[str] = LIBRARIES, postgres_url: str | None = None, sqlite: bool = True
) -> str:
    """One line: retentio commit, Python, the libraries' versions, SQLite, PostgreSQL, cores, load.

    ``postgres_url`` adds the server's version (it connects); leave it None when PostgreSQL is not
    measured. ``sqlite`` names the SQLite library Python's ``sqlite3`` (and so the store) links.
    """
    parts = []
    commit = _commit()
    if commit:
        parts.append(f"retentio {commit}")
    parts.append(f"Python {platform.python_version()}")
    for name in libraries:
        version = _version(name)
        if version is not None:
            parts.append(f"{name} {version}")
    if sqlite:
        parts.append(f"SQLite {sqlite3.sqlite_version}")
    if postgres_url is not None:
        parts.append(f"PostgreSQL server {postgres_server_version(postgres_url)}")
    parts.append(f"{os.cpu_count()} cores")
    parts.append(f"load average {os.getloadavg()[0]:.2f} at start")
    return "Versions: " + ", ".join(parts)
