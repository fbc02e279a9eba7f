"""Module-level functions the isolation tests run in engine workers (a worker imports them by name)."""

from __future__ import annotations

import os
import signal
import time

from pdfjobs import errors


def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def worker_pid() -> int:
    return os.getpid()


def sleep_then_return(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def allocate_mb(megabytes: int) -> int:
    """Touch `megabytes` of memory, in 8 MB pieces (as a decoder that keeps growing would)."""
    chunks = [bytearray(8 * 1024 * 1024) for _ in range(megabytes // 8)]
    return len(chunks)


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def raise_domain_error() -> None:
    raise errors.PdfPasswordIncorrect("That password does not open this PDF.", details={"hint": "check it"})


def raise_value_error() -> None:
    raise ValueError("an engine bug")


def exit_abruptly() -> None:
    os._exit(3)


def echo(value: object) -> object:
    return value
