"""boto3 clients, built lazily once per cold start (never at import time: tests and the
local runtime set endpoints and credentials before first use)."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import boto3
from botocore.config import Config

from pdfjobs.settings import get_settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=60)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def dynamodb_table(name: str) -> Any:
    return boto3.session.Session().resource("dynamodb", config=_CONFIG).Table(name)


@lru_cache(maxsize=1)
def s3_presigner() -> Any:
    """An S3 client whose signed URLs point where clients can reach S3.

    Locally that is the emulator's public address, not an in-process endpoint.
    """
    endpoint = get_settings().public_s3_endpoint
    config = Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint else "auto"})
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def reset() -> None:
    """Forget every client (tests that change endpoints or settings)."""
    client.cache_clear()
    dynamodb_table.cache_clear()
    s3_presigner.cache_clear()
