"""Errors that name what is wrong and where, so a user can fix their input without a debugger."""

from __future__ import annotations


class AdmireError(Exception):
    """Base of every error admire raises on purpose."""


class ValidationError(AdmireError, ValueError):
    """Bad input: a config field, a table cell, a weight vector.

    ``where`` says the place (file, row, column, or config field) so messages are actionable.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.problem = message
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(ValidationError):
    """A study config or fidelity ladder that cannot be used; ``where`` names the field."""
