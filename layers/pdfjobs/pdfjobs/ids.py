"""Unguessable, time-ordered ids with a type prefix, e.g. `job_01JD3...`.

A ULID (48-bit millisecond time + 80 random bits, Crockford base32): sorting ids sorts by
creation time, which is what newest-first listing on a DynamoDB sort key needs.
"""

from __future__ import annotations

import secrets

from pdfjobs import clock

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid() -> str:
    millis = int(clock.now().timestamp() * 1000)
    value = (millis << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_id(prefix: str) -> str:
    return f"{prefix}_{_ulid()}"


def has_prefix(value: str, prefix: str) -> bool:
    """A cheap shape check before touching storage with a client-supplied id."""
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27 and value[len(prefix) + 1 :].isalnum()
