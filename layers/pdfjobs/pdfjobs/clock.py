"""The one clock. Tests move it with `freeze(...)` instead of patching datetime everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen or datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Pin the clock (tests only); `None` releases it."""
    global _frozen
    _frozen = at


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision, e.g. 2026-11-22T09:20:14.123Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
