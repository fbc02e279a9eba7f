"""Engine isolation: warm workers, and every way a call can fail without hurting the caller."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pdfjobs import errors, isolation
from pdfjobs.engines.text import extract_text
from pdfjobs.pdf.document import PdfInfo, inspect_pdf

try:
    from . import isolation_targets as targets  # when tests/ is a package
except ImportError:
    import isolation_targets as targets  # type: ignore[no-redef]

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
HOSTILE = sorted((CORPUS / "hostile").glob("*")) if CORPUS.is_dir() else []


@pytest.fixture(scope="module", autouse=True)
def _workers() -> Iterator[None]:
    isolation.configure_workers(2)
    isolation.start_workers()
    yield
    isolation.shutdown_workers()


def run(func: Callable[..., Any], *args: Any, timeout: float = 10, memory_mb: int = 512, **kwargs: Any) -> Any:
    return isolation.run_isolated(func, *args, timeout=timeout, memory_mb=memory_mb, **kwargs)


def test_result_and_arguments_round_trip() -> None:
    assert run(targets.add, 2, 3, scale=4) == 20
    value = {"pages": [1, 2], "text": "héllo\f", "nested": (None, 1.5)}
    assert run(targets.echo, value) == value


def test_workers_are_warm_and_reused() -> None:
    first = run(targets.worker_pid)
    started = time.perf_counter()
    pids = {run(targets.worker_pid) for _ in range(20)}
    elapsed = time.perf_counter() - started
    assert pids == {first}  # one caller at a time keeps getting the same warm worker
    assert elapsed < 2.0  # no process start per call (a start costs ~100 ms)


def test_timeout_kills_the_worker_and_the_next_call_works() -> None:
    pid = run(targets.worker_pid)  # the worker the next call gets (idle workers are reused last-in first-out)
    started = time.perf_counter()
    with pytest.raises(errors.EngineTimeout, match="1 s"):
        run(targets.sleep_then_return, 30, timeout=1)
    assert time.perf_counter() - started < 5
    assert run(targets.add, 1, 1) == 2
    assert pid not in {run(targets.worker_pid) for _ in range(4)}  # the hung worker is gone
    assert run(targets.sleep_then_return, 0.01, timeout=5) == "slept"


def test_memory_limit() -> None:
    with pytest.raises(errors.EngineResourceLimit):
        run(targets.allocate_mb, 1024, memory_mb=128)
    # The limit is per call: the same worker pool serves a call that fits.
    assert run(targets.allocate_mb, 64, memory_mb=512) == 8


def test_killed_from_outside_is_a_resource_limit() -> None:
    # What the kernel's (or Lambda's) OOM killer does.
    with pytest.raises(errors.EngineResourceLimit):
        run(targets.kill_self)
    assert run(targets.add, 1, 1) == 2


def test_a_crash_is_an_invalid_pdf_and_the_pool_recovers() -> None:
    pid = run(targets.worker_pid)
    with pytest.raises(errors.PdfInvalid, match="crashed"):
        run(targets.crash)
    assert run(targets.add, 2, 2) == 4
    assert pid not in {run(targets.worker_pid) for _ in range(4)}


def test_a_worker_that_died_while_idle_is_replaced_transparently() -> None:
    pid = run(targets.worker_pid)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert run(targets.add, 20, 22) == 42
    assert pid not in {run(targets.worker_pid) for _ in range(4)}


def test_a_domain_error_comes_back_as_itself_and_keeps_the_worker() -> None:
    pid = run(targets.worker_pid)
    with pytest.raises(errors.PdfPasswordIncorrect) as raised:
        run(targets.raise_domain_error)
    assert raised.value.message == "That password does not open this PDF."
    assert raised.value.details == {"hint": "check it"}
    assert run(targets.worker_pid) == pid


def test_any_other_exception_is_internal() -> None:
    with pytest.raises(errors.Internal):
        run(targets.raise_value_error)
    with pytest.raises(errors.Internal, match="exited"):
        run(targets.exit_abruptly)
    assert run(targets.add, 5, 5) == 10


def test_a_pdf_error_is_invalid_pdf(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.4\nnot really\n")
    with pytest.raises(errors.PdfInvalid):
        run(extract_text, str(garbage), [1], None)


def test_a_function_that_cannot_be_sent() -> None:
    with pytest.raises(errors.Internal, match="Cannot send"):
        run(lambda: 1)
    assert run(targets.add, 1, 2) == 3


def test_four_threads_share_two_workers() -> None:
    results: list[tuple[int, int]] = []
    pids: set[int] = set()
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            for i in range(10):
                value = run(targets.add, n, i)
                pid = run(targets.worker_pid)
                with lock:
                    results.append((n + i, value))
                    pids.add(pid)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert len(results) == 40
    assert all(expected == value for expected, value in results)
    assert len(pids) <= 2  # the pool never grows past its size


def test_concurrent_timeouts_and_successes() -> None:
    outcomes: list[str] = []

    def slow() -> None:
        try:
            run(targets.sleep_then_return, 30, timeout=1)
        except errors.EngineTimeout:
            outcomes.append("timeout")

    def fast() -> None:
        outcomes.append(run(targets.sleep_then_return, 0.05))

    threads = [threading.Thread(target=f) for f in (slow, fast, slow, fast)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["slept", "slept", "timeout", "timeout"]


def test_pool_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFJOBS_ENGINE_WORKERS", "3")
    assert isolation.WorkerPool().size == 3
    monkeypatch.setenv("PDFJOBS_ENGINE_WORKERS", "lots")
    assert isolation.WorkerPool().size == isolation.DEFAULT_WORKERS
    monkeypatch.delenv("PDFJOBS_ENGINE_WORKERS")
    assert isolation.WorkerPool().size == isolation.DEFAULT_WORKERS
    assert isolation.WorkerPool(1).size == 1
    with pytest.raises(ValueError):
        isolation.WorkerPool(0)


def test_a_separate_pool_and_its_shutdown() -> None:
    pool = isolation.WorkerPool(1)
    try:
        assert pool.run(targets.add, 1, 2, timeout=10, memory_mb=256) == 3
        pid = pool.run(targets.worker_pid, timeout=10, memory_mb=256)
    finally:
        pool.shutdown()
    with pytest.raises(errors.Internal, match="shut down"):
        pool.run(targets.add, 1, 2, timeout=10, memory_mb=256)
    assert pid != run(targets.worker_pid)  # the default pool is unaffected


def test_run_after_shutdown_starts_a_new_pool() -> None:
    isolation.shutdown_workers()
    assert run(targets.add, 3, 4) == 7


@pytest.mark.skipif(not HOSTILE, reason=f"the test corpus is not at {CORPUS}")
@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.name)
def test_hostile_files_end_cleanly(path: Path) -> None:
    started = time.perf_counter()
    try:
        info = run(inspect_pdf, str(path), timeout=20, memory_mb=1024)
    except errors.PdfInvalid:
        info = None
    if info is not None:
        assert isinstance(info, PdfInfo)
        assert info.page_count and info.page_count >= 1
        try:
            pages = run(extract_text, str(path), list(range(1, info.page_count + 1)), None, timeout=20, memory_mb=1024)
        except errors.PdfJobsError as error:  # a clean domain error is an acceptable outcome
            assert error.code in {"pdf.invalid", "pdf.resource_limit", "job.timeout"}
        else:
            assert len(pages) == info.page_count
            assert all(isinstance(page["text"], str) for page in pages)
    assert time.perf_counter() - started < 45
    assert run(targets.add, 1, 1) == 2  # and the pool is still serving
