"""Typed errors raised by domain code; the CLI and the API map them at one boundary each."""

from __future__ import annotations


class RetentioError(Exception):
    """Base class of every error we raise on purpose."""


class UserError(RetentioError):
    """The user asked for something we cannot do; the message says what and how to fix it."""


class InputError(UserError):
    """An input file cannot be read at all (unknown table, missing column, unreadable encoding)."""


class StoreError(RetentioError):
    """The store is unreachable or in a state we cannot work with."""
