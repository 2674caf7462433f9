"""Errors a handler raises to answer the member instead of changing anything."""
from __future__ import annotations

from typing import Any


class CommandError(Exception):
    """A user mistake: the router rolls back and replies with the locale text `key`."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
