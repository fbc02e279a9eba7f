"""Run engine functions in warm worker processes, so a hostile PDF cannot take the caller down.

pdfium is C++: a crafted file can crash it, hang it, or make it allocate without bound. In the
local runtime every Lambda handler shares one Python process, so engines never run there: they
run in a small pool of persistent worker processes. A worker that crashes, hangs past its
timeout or runs out of memory is discarded (killed if needed) and replaced on the next call.

How workers are made, and why:
- A worker is a fresh interpreter (`python -c`, via subprocess) talking over a socketpair with
  `multiprocessing.connection.Connection` framing. Lambda has no /dev/shm, so the queues, pools
  and executors of multiprocessing/concurrent.futures (POSIX semaphores) cannot be used there.
- Not multiprocessing's "spawn" Process either: spawn re-runs the caller's main script in every
  child, so any script without an `if __name__ == "__main__"` guard (a benchmark, a handler run
  as a script) would start recursively. Never fork either: the caller runs threads.
- The worker gets the caller's sys.path, so `func` only has to be importable in the caller.

Memory: each call sets the worker's RLIMIT_AS to its current address space plus `memory_mb`,
so `memory_mb` is what the job may allocate on top of the idle worker (about 30 MB).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from pdfjobs import errors

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_WORKERS = 2
_STARTUP_TIMEOUT_SECONDS = 60.0  # a cold Lambda sandbox can be slow to import
_MAX_TASKS_PER_WORKER = 500  # recycle now and then: pdfium caches and heap fragmentation only grow
_PRELOAD = ("pypdfium2",)  # imported at worker start, so the first call does not pay for it
_SYS_PATH_VARIABLE = "PDFJOBS_WORKER_SYS_PATH"

# What the worker runs: take the caller's sys.path, then serve on the inherited socket.
_BOOTSTRAP = (
    "import json, os, sys; "
    f"sys.path[:] = json.loads(os.environ.pop({_SYS_PATH_VARIABLE!r})); "
    "from pdfjobs.isolation import _serve; "
    "_serve(int(sys.argv[1]), tuple(sys.argv[2:]))"
)

# Worker-to-caller replies.
_READY, _OK, _ERROR = "ready", "ok", "error"
# Kinds of failure reported by a worker.
_DOMAIN, _MEMORY, _PDF, _OTHER = "domain", "memory", "pdf", "other"

_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP}


# --- the worker ----------------------------------------------------------------------------------------


def _serve(fd: int, preload: tuple[str, ...]) -> None:
    """A worker's whole life: import, say ready, then run one call at a time until the pipe closes."""
    import importlib
    import resource

    conn = Connection(fd)
    # Ctrl-C in the local runtime is for the caller, which stops workers by closing their pipes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    _, hard_limit = resource.getrlimit(resource.RLIMIT_AS)
    statm = os.open("/proc/self/statm", os.O_RDONLY)  # kept open: reopening costs more than the read
    conn.send((_READY, os.getpid()))
    while True:
        try:
            call = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the caller is gone or shut us down
        try:
            # From our own caller over a private socket; loading imports func's module if needed.
            func, args, kwargs, memory_mb = pickle.loads(call)  # noqa: S301
            limit = _address_space_bytes(statm) + memory_mb * 1024 * 1024
            if hard_limit != resource.RLIM_INFINITY:
                limit = min(limit, hard_limit)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard_limit))
            try:
                reply: tuple[Any, ...] = (_OK, func(*args, **kwargs))
            finally:
                # Lift the limit first: pickling the reply (or the error) needs memory too.
                resource.setrlimit(resource.RLIMIT_AS, (hard_limit, hard_limit))
        except BaseException as error:  # everything goes back to the caller, even SystemExit
            reply = (_ERROR, *_describe(error))
        try:
            conn.send(reply)
        except Exception as error:  # e.g. a result that cannot be pickled
            conn.send((_ERROR, _OTHER, "Internal", f"the result could not be sent back: {error!r}", None, ""))


def _address_space_bytes(statm: int | None = None) -> int:
    """The process's address space size, from /proc/self/statm (or an open descriptor of it)."""
    if statm is None:
        with open("/proc/self/statm", encoding="ascii") as file:
            return int(file.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    return int(os.pread(statm, 256, 0).split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _describe(error: BaseException) -> tuple[str, str, str, dict[str, Any] | None, str]:
    """(kind, class name, message, details, traceback) of an exception raised by an engine."""
    trace = "".join(traceback.format_exception(error))
    if isinstance(error, errors.PdfJobsError):
        # The nearest class the caller can look up by name (a subclass defined elsewhere maps to it).
        name = next(
            (c.__name__ for c in type(error).__mro__ if errors.error_class_by_name(c.__name__) is c),
            "Internal",
        )
        return _DOMAIN, name, error.message, error.details, trace
    if isinstance(error, MemoryError):
        return _MEMORY, type(error).__name__, str(error), None, trace
    if any(c.__module__.split(".")[0] in ("pypdfium2", "pypdfium2_raw", "pypdf") for c in type(error).__mro__):
        return _PDF, type(error).__name__, str(error), None, trace
    return _OTHER, type(error).__name__, str(error), None, trace


# --- the caller ----------------------------------------------------------------------------------------


class _NotDelivered(Exception):
    """The call could not be written to the worker's socket (it had died while idle)."""


class _Worker:
    def __init__(self, process: subprocess.Popen[bytes], conn: Connection) -> None:
        self.process = process
        self.pid = process.pid
        self.conn = conn
        self.tasks = 0

    @property
    def exitcode(self) -> int | None:
        return self.process.returncode

    def kill(self) -> None:
        """Kill (if still running) and reap the process; safe to call more than once."""
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def stop(self) -> None:
        """Close the socket, so the worker exits by itself; kill it if it does not."""
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)
        self.kill()


class WorkerPool:
    """A fixed number of warm worker processes, shared safely by any number of threads."""

    def __init__(self, size: int | None = None, *, preload: tuple[str, ...] = _PRELOAD) -> None:
        self.size = size if size is not None else _size_from_environment()
        if self.size < 1:
            raise ValueError("an engine worker pool needs at least one worker")
        self._preload = preload
        self._idle: list[_Worker] = []
        self._live = 0  # idle + busy + starting
        self._closed = False
        self._condition = threading.Condition()

    @property
    def closed(self) -> bool:
        return self._closed

    def run(self, func: Callable[..., T], *args: Any, timeout: float, memory_mb: int, **kwargs: Any) -> T:
        """func(*args, **kwargs) in a worker, with the failure mapping described in run_isolated."""
        for attempt in (1, 2):
            worker = self._acquire()
            healthy = False
            try:
                result, error, healthy = self._call(worker, func, args, kwargs, timeout, memory_mb)
            except _NotDelivered:
                if attempt == 2:
                    raise errors.Internal("No engine worker could take the call.") from None
                continue  # the worker had died while idle; the call never reached it
            finally:
                self._release(worker, healthy)
            if error is not None:
                raise error
            return result
        raise AssertionError("unreachable")

    def start(self, count: int | None = None) -> None:
        """Start workers ahead of the first call (optional: they also start on demand)."""
        started = [self._acquire() for _ in range(min(count or self.size, self.size))]
        for worker in started:
            self._release(worker, healthy=True)

    def shutdown(self) -> None:
        """Stop idle workers now; busy ones are stopped when their call returns."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.stop()

    # -- internals

    def _acquire(self) -> _Worker:
        with self._condition:
            while True:
                if self._closed:
                    raise errors.Internal("The engine workers have been shut down.")
                if self._idle:
                    return self._idle.pop()
                if self._live < self.size:
                    self._live += 1
                    break
                self._condition.wait()
        try:
            return self._spawn()  # outside the lock: other threads keep using the warm workers
        except BaseException:
            with self._condition:
                self._live -= 1
                self._condition.notify()
            raise

    def _release(self, worker: _Worker, healthy: bool) -> None:
        retire = not healthy or self._closed or worker.tasks >= _MAX_TASKS_PER_WORKER
        with self._condition:
            if retire:
                self._live -= 1  # replaced lazily: the next call that finds no idle worker starts one
            else:
                self._idle.append(worker)
            self._condition.notify()
        if not healthy:
            worker.kill()
        elif retire:
            worker.stop()

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
                [sys.executable, "-c", _BOOTSTRAP, str(theirs.fileno()), *self._preload],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, _SYS_PATH_VARIABLE: json.dumps(sys.path)},
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker has its copy; ours must go so its death shows as EOF
        worker = _Worker(process, Connection(ours.detach()))
        try:
            if not worker.conn.poll(_STARTUP_TIMEOUT_SECONDS):
                raise errors.Internal("An engine worker did not start in time.")
            worker.conn.recv()
        except (EOFError, OSError) as error:
            worker.kill()
            raise errors.Internal(f"An engine worker died while starting (exit code {worker.exitcode}).") from error
        except BaseException:
            worker.kill()
            raise
        return worker

    def _call(
        self, worker: _Worker, func: Callable[..., Any], args: Any, kwargs: Any, timeout: float, memory_mb: int
    ) -> tuple[Any, errors.PdfJobsError | None, bool]:
        """(result, error to raise, whether the worker may be reused)."""
        name = getattr(func, "__qualname__", repr(func))
        try:
            call = pickle.dumps((func, args, kwargs, memory_mb), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # not a module-level function, or unpicklable arguments
            return None, errors.Internal(f"Cannot send {name} to an engine worker: {error}"), True
        try:
            worker.conn.send_bytes(call)
        except OSError:
            raise _NotDelivered from None
        worker.tasks += 1
        try:
            if not worker.conn.poll(timeout):
                worker.kill()
                return None, errors.EngineTimeout(f"Processing took longer than the {timeout:g} s time limit."), False
            reply = worker.conn.recv()
        except (EOFError, OSError):
            return None, self._death(worker, name), False
        if reply[0] == _OK:
            return reply[1], None, True
        _, kind, class_name, message, details, trace = reply
        if kind == _DOMAIN:
            # An expected failure (a wrong password, a page out of range): the worker stays.
            cls = errors.error_class_by_name(class_name) or errors.Internal
            return None, cls(message, details=details), True
        logger.warning("engine %s failed in worker %s:\n%s", name, worker.pid, trace)
        if kind == _MEMORY:
            return None, errors.EngineResourceLimit(), False
        if kind == _PDF:
            # pdfium reported a damaged document cleanly; its state is per document: the worker stays.
            return None, errors.PdfInvalid(f"The document could not be read as a PDF: {message or class_name}."), True
        return None, errors.Internal(), False

    def _death(self, worker: _Worker, name: str) -> errors.PdfJobsError:
        """The error for a worker whose socket closed during a call: it died."""
        worker.kill()
        code = worker.exitcode
        logger.warning("engine worker %s died running %s (exit code %s)", worker.pid, name, code)
        if code is not None and code < 0:
            if -code == signal.SIGKILL:
                # Not ours (a timeout kill does not get here): the kernel's or the sandbox's OOM killer.
                return errors.EngineResourceLimit()
            if -code in _CRASH_SIGNALS:
                return errors.PdfInvalid("The PDF engine crashed on this document.")
        return errors.Internal("An engine worker exited unexpectedly.")


def _size_from_environment() -> int:
    value = os.environ.get("PDFJOBS_ENGINE_WORKERS", "")
    try:
        size = int(value) if value.strip() else DEFAULT_WORKERS
    except ValueError:
        size = 0
    if size < 1:
        logger.warning("PDFJOBS_ENGINE_WORKERS=%r is not a positive number; using %d", value, DEFAULT_WORKERS)
        return DEFAULT_WORKERS
    return size


# --- the module-level pool -----------------------------------------------------------------------------

_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def _default_pool() -> WorkerPool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.closed:
            _pool = WorkerPool()
        return _pool


def configure_workers(size: int) -> None:
    """Set the default pool's size (replacing a running pool; its busy workers finish first)."""
    global _pool
    with _pool_lock:
        old, _pool = _pool, WorkerPool(size)
    if old is not None:
        old.shutdown()


def run_isolated(func: Callable[..., T], *args: Any, timeout: float, memory_mb: int, **kwargs: Any) -> T:
    """Run the module-level function `func(*args, **kwargs)` in a warm worker process.

    - a PdfJobsError raised by func comes back as the same class, message and details;
    - a pypdfium2/pypdf exception -> PdfInvalid; MemoryError -> EngineResourceLimit;
    - not done within `timeout` seconds -> the worker is killed, EngineTimeout;
    - the worker dies by a crash signal (pdfium crashed) -> PdfInvalid("The PDF engine crashed ...");
      killed by SIGKILL from outside (an OOM killer) -> EngineResourceLimit;
    - any other exception -> Internal (its traceback is logged).
    A worker that failed in any of these ways (except a PdfJobsError or a clean PDF error) is
    discarded and replaced on demand.
    """
    return _default_pool().run(func, *args, timeout=timeout, memory_mb=memory_mb, **kwargs)


def start_workers(count: int | None = None) -> None:
    """Warm the default pool ahead of the first call (e.g. when the local runtime starts)."""
    _default_pool().start(count)


def shutdown_workers() -> None:
    """Stop the default pool's workers (registered atexit; safe to call more than once)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown()


atexit.register(shutdown_workers)
