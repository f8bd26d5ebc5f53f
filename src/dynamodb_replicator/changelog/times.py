"""Instants on the command line: ISO 8601 with a zone, or epoch seconds (pure)."""

from __future__ import annotations

import datetime as dt

from ..errors import UsageError

__all__ = ["format_instant", "parse_instant"]

_HINT = "write 2026-01-02T03:04:05Z (ISO 8601 with a zone) or epoch seconds like 1767322800"


def parse_instant(text: str, what: str = "time") -> int:
    """Whole epoch seconds of ``text``; a time without a zone is refused (never guessed)."""
    value = text.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{what} {text!r} is not a time", hint=_HINT) from exc
    if moment.tzinfo is None:
        raise UsageError(f"{what} {text!r} has no time zone", hint=_HINT)
    return int(moment.timestamp() // 1)


def format_instant(seconds: int) -> str:
    """``2026-01-02T03:04:05Z`` for an epoch second."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
