"""Typed errors raised by domain code; the CLI and the API map them at one boundary each.

Every error we raise on purpose is a :class:`RetentioError` with a *category*. The category decides
how a boundary presents it — the CLI's exit code, the API's HTTP status and RFC 9457 problem type —
so domain code only says what went wrong, never how to show it (and never names a CLI flag or an
HTTP status). :func:`problem` gives the problem+json body; :data:`EXIT_CODES` the CLI's codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """What kind of failure an error is, independent of how it is shown."""

    INVALID_INPUT = "invalid-input"  # the request or a file cannot be used as given
    NOT_FOUND = "not-found"  # a named thing does not exist
    CONFLICT = "conflict"  # the state forbids it now (busy, already exists, would rewrite history)
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"  # the store or another dependency cannot be reached or used
    INTERNAL = "internal"


# HTTP status per category (RFC 9110), for the API's problem+json.
HTTP_STATUS = {
    Category.INVALID_INPUT: 422,
    Category.NOT_FOUND: 404,
    Category.CONFLICT: 409,
    Category.UNAUTHENTICATED: 401,
    Category.FORBIDDEN: 403,
    Category.UNAVAILABLE: 503,
    Category.INTERNAL: 500,
}
# CLI exit code per category: 2 for anything the user can fix by changing what they asked.
EXIT_CODES = {
    Category.INVALID_INPUT: 2,
    Category.NOT_FOUND: 2,
    Category.CONFLICT: 2,
    Category.UNAUTHENTICATED: 2,
    Category.FORBIDDEN: 2,
    Category.UNAVAILABLE: 2,
    Category.INTERNAL: 1,
}
TITLES = {
    Category.INVALID_INPUT: "Invalid input",
    Category.NOT_FOUND: "Not found",
    Category.CONFLICT: "Conflict",
    Category.UNAUTHENTICATED: "Authentication required",
    Category.FORBIDDEN: "Forbidden",
    Category.UNAVAILABLE: "Service unavailable",
    Category.INTERNAL: "Internal error",
}


class RetentioError(Exception):
    """Base class of every error we raise on purpose."""

    category: Category = Category.INTERNAL


class UserError(RetentioError):
    """The user asked for something we cannot do; the message says what and how to fix it."""

    category = Category.INVALID_INPUT


class InvalidInput(UserError):
    """A value, option or request body is not acceptable."""


class InputError(InvalidInput):
    """An input file cannot be read at all (unknown table, missing column, unreadable encoding)."""


class NotFound(UserError):
    """A named object (customer, segment, model, file) does not exist."""

    category = Category.NOT_FOUND


class Conflict(UserError):
    """The current state does not allow it (busy, already exists, would rewrite history)."""

    category = Category.CONFLICT


class StoreError(RetentioError):
    """The store is unreachable or in a state we cannot work with."""

    category = Category.UNAVAILABLE


class ConfigError(InvalidInput):
    """A setting has a value we cannot use; the message names the setting."""


def problem(error: RetentioError, instance: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem details of ``error`` (the API's error body)."""
    body: dict[str, Any] = {
        "type": f"https://retentio.dev/problems/{error.category.value}",
        "title": TITLES[error.category],
        "status": HTTP_STATUS[error.category],
        "detail": str(error),
    }
    if instance:
        body["instance"] = instance
    return body
