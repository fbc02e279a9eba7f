"""Integration fixtures: moto's server on loopback with every resource built from template.yaml.

State machines are recorded, not executed, here: tests drive the pipeline steps one by one, so
each status transition happens exactly when the test says.
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from moto.server import ThreadedMotoServer

from pdfjobs import aws_clients, clock
from pdfjobs.local.environment import ProcessEnvironment, emulator_environment, merged_function_environment
from pdfjobs.local.lambda_functions import function_specs
from pdfjobs.local.resources import Stack, create_resources
from pdfjobs.local.template import SamTemplate
from pdfjobs.records import DEFAULT_SCOPES, Principal
from pdfjobs.settings import get_settings
from tests.corpus import REPO_ROOT

ADMIN_KEY = "pdfj_integration-admin-key-0123456789abcdefghijklmnop"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parameters(template: SamTemplate) -> dict[str, Any]:
    values = {name: definition.get("Default") for name, definition in template.parameters.items()}
    values["AdminApiKeySha256"] = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
    return values


@pytest.fixture(scope="module")
def aws_stack() -> Iterator[Stack]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    template = SamTemplate.load(REPO_ROOT / "template.yaml")
    stack = Stack(template, _parameters(template), endpoint)
    environment = {
        **merged_function_environment(function_specs(stack)),
        # Nothing listens here: these tests invoke pipeline steps themselves.
        **emulator_environment(endpoint, f"http://127.0.0.1:{_free_port()}"),
    }
    process_environment = ProcessEnvironment()
    process_environment.apply(environment)
    get_settings.cache_clear()
    aws_clients.reset()
    try:
        # moto's backends are process-wide: start each module from an empty emulator.
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        create_resources(stack)
        yield stack
    finally:
        process_environment.restore()
        get_settings.cache_clear()
        aws_clients.reset()
        server.stop()


@pytest.fixture
def settings_override(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set PDFJOBS_* settings for one test; the cached settings are rebuilt before and after."""

    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"PDFJOBS_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


@pytest.fixture
def principal(aws_stack: Stack) -> Principal:
    """A fresh tenant per test, so tests share the emulator without seeing each other."""
    return Principal(key_id="key_test", tenant_id=f"t-{uuid.uuid4().hex[:12]}", scopes=frozenset(DEFAULT_SCOPES))


@pytest.fixture(autouse=True)
def _release_clock() -> Iterator[None]:
    yield
    clock.freeze(None)
