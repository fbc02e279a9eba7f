"""Shared by the Textract adapter tests: a real Textract client under botocore's Stubber (which
checks our requests against the service model), a client that must not be called, and a blank
page image."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.stub import Stubber
from PIL import Image


@contextmanager
def stubbed_textract() -> Iterator[tuple[Any, Stubber]]:
    """(client, stubber); every queued response must have been used by the end."""
    client = boto3.client(
        "textract", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


class MustNotBeCalled:
    """A client for requests that could only fail: any call is a test failure."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Textract was called ({name}) for a request that could only fail")


def blank_png(width: int, height: int, mode: str = "1") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 255 if mode == "L" else 1).save(buffer, format="PNG")
    return buffer.getvalue()
