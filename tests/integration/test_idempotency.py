"""Idempotency on Powertools' utility and the template's table: replay, in-progress, mismatch, scope."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pdfjobs import errors
from pdfjobs.idempotency import MutationResponse, run_idempotent


def _run(key: str, payload: Any, compute: Any, tenant: str = "t1", operation: str = "jobs.create") -> MutationResponse:
    return run_idempotent(tenant_id=tenant, key=key, operation=operation, payload=payload, compute=compute)


def test_same_key_and_payload_replays_the_original_response(aws_stack: Any) -> None:
    calls: list[int] = []

    def compute() -> MutationResponse:
        calls.append(1)
        return MutationResponse(202, {"id": f"job_{len(calls)}"})

    first = _run("k-replay", {"a": 1}, compute)
    second = _run("k-replay", {"a": 1}, compute)
    assert (first.status, first.body, first.replayed) == (202, {"id": "job_1"}, False)
    assert (second.status, second.body, second.replayed) == (202, {"id": "job_1"}, True)
    assert len(calls) == 1


def test_different_payload_with_the_same_key_is_refused(aws_stack: Any) -> None:
    _run("k-mismatch", {"a": 1}, lambda: MutationResponse(201, {"ok": True}))
    with pytest.raises(errors.IdempotencyPayloadMismatch):
        _run("k-mismatch", {"a": 2}, lambda: MutationResponse(201, {"ok": True}))


def test_a_second_call_while_the_first_runs_is_a_conflict(aws_stack: Any) -> None:
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def slow() -> MutationResponse:
        started.set()
        release.wait(10)
        return MutationResponse(202, {"id": "job_slow"})

    worker = threading.Thread(target=lambda: outcome.setdefault("first", _run("k-busy", {"a": 1}, slow)))
    worker.start()
    assert started.wait(10)
    try:
        with pytest.raises(errors.IdempotencyInProgress):
            _run("k-busy", {"a": 1}, lambda: MutationResponse(202, {"id": "job_other"}))
    finally:
        release.set()
        worker.join(10)
    assert outcome["first"].body == {"id": "job_slow"}
    assert _run("k-busy", {"a": 1}, lambda: MutationResponse(202, {"id": "x"})).body == {"id": "job_slow"}


def test_keys_are_scoped_by_tenant_and_operation(aws_stack: Any) -> None:
    a = _run("k-scope", {"a": 1}, lambda: MutationResponse(201, {"who": "a"}), tenant="ta")
    b = _run("k-scope", {"a": 1}, lambda: MutationResponse(201, {"who": "b"}), tenant="tb")
    c = _run("k-scope", {"a": 1}, lambda: MutationResponse(201, {"who": "c"}), tenant="ta", operation="files.delete")
    assert (a.body, b.body, c.body) == ({"who": "a"}, {"who": "b"}, {"who": "c"})
    assert not (a.replayed or b.replayed or c.replayed)


def test_a_failed_call_is_not_remembered(aws_stack: Any) -> None:
    def failing() -> MutationResponse:
        raise errors.NotFound()

    with pytest.raises(errors.NotFound):
        _run("k-fail", {"a": 1}, failing)
    assert _run("k-fail", {"a": 1}, lambda: MutationResponse(201, {"ok": 1})).replayed is False
