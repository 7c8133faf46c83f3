"""The command group itself: --version, and errors of the environment as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from retentio import __version__
from retentio.cli.app import describe_environment_error

EXE = str(Path(sys.executable).with_name("retentio"))


def test_version_prints_the_version() -> None:
    result = subprocess.run([EXE, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"retentio {__version__}"


def test_environment_errors_become_one_line_and_bugs_do_not() -> None:
    full = OSError(28, "No space left on device", "/dev/full")
    assert describe_environment_error(full) == "/dev/full: no space left on the device"
    denied = PermissionError(13, "Permission denied", "/ro/x")
    assert "read-only or permission denied" in (describe_environment_error(denied) or "")
    assert describe_environment_error(ValueError("a bug")) is None
    assert describe_environment_error(KeyError("a bug")) is None
