"""End-to-end fixtures: a running stack driven over HTTP.

By default the local runtime is started as a subprocess, exactly as `make run` starts it.
To run the same tests against a real LocalStack-hosted or deployed stack, set:
  PDFJOBS_E2E_API_URL    the API base URL including the stage, e.g. https://abc.execute-api.../v1
  PDFJOBS_E2E_ADMIN_KEY  the operator key of that stack
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pdfjobs.services.auth import generate_key
from tests.corpus import REPO_ROOT

STARTUP_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class Stack:
    api_url: str  # includes the stage: http://127.0.0.1:3000/v1
    admin_key: str
    aws_endpoint: str | None  # the emulator, for tests that look behind the API (local only)

    def url(self, path: str) -> str:
        return self.api_url + path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    remote_url = os.environ.get("PDFJOBS_E2E_API_URL")
    if remote_url:
        yield Stack(remote_url.rstrip("/"), os.environ["PDFJOBS_E2E_ADMIN_KEY"], aws_endpoint=None)
        return
    admin_key = generate_key()
    api_port, aws_port, lambda_port = _free_port(), _free_port(), _free_port()
    log_path = Path(tmp_path_factory.mktemp("runtime")) / "runtime.log"
    env = {
        **os.environ,
        "PDFJOBS_PORT": str(api_port),
        "PDFJOBS_AWS_PORT": str(aws_port),
        "PDFJOBS_LAMBDA_PORT": str(lambda_port),
        "PDFJOBS_ADMIN_KEY": admin_key,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        # html_to_pdf tests serve pages from 127.0.0.1; every other private address stays refused.
        "PDFJOBS_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pdfjobs.local"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        api_url = f"http://127.0.0.1:{api_port}/v1"
        try:
            _wait_healthy(api_url, process, log_path)
            yield Stack(api_url, admin_key, aws_endpoint=f"http://127.0.0.1:{aws_port}")
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(api_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local runtime exited early:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            if requests.get(api_url + "/health", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"local runtime not healthy in time:\n{log_path.read_text(errors='replace')[-4000:]}")


class Api:
    """A thin requests wrapper bound to one API key (the SDK is tested separately against the same stack)."""

    def __init__(self, stack: Stack, key: str) -> None:
        self.stack = stack
        self.key = key
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.stack.url(path), **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def upload(self, path: Path, content_type: str = "application/pdf", filename: str | None = None) -> dict:
        """Presigned upload -> S3 POST -> complete; returns the file."""
        data = path.read_bytes()
        created = self.post(
            "/uploads",
            json={"filename": filename or path.name, "contentType": content_type, "sizeBytes": len(data)},
        )
        assert created.status_code == 201, created.text
        upload = created.json()
        sent = requests.post(
            upload["url"], data=upload["fields"], files={"file": (path.name, data, content_type)}, timeout=30
        )
        assert sent.status_code in (200, 201, 204), sent.text
        completed = self.post(f"/uploads/{upload['uploadId']}/complete", json={})
        assert completed.status_code == 200, completed.text
        return dict(completed.json())

    def submit(self, job_type: str, file_ids: list[str], settings: dict | None = None, **extra: object) -> dict:
        response = self.post(
            "/jobs", json={"jobType": job_type, "inputFileIds": file_ids, "settings": settings or {}, **extra}
        )
        assert response.status_code == 202, response.text
        return dict(response.json())

    def wait(self, job_id: str, timeout: float = 60) -> tuple[dict, list[int]]:
        """Polls until terminal; returns the job and every progress value seen."""
        seen: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/jobs/{job_id}").json()
            seen.append(job["progress"])
            if job["status"] not in ("queued", "running"):
                return job, seen
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} not finished in {timeout}s: {job}")


@pytest.fixture(scope="session")
def admin(stack: Stack) -> Api:
    return Api(stack, stack.admin_key)


def _tenant_api(admin: Api, tenant: str) -> Api:
    response = admin.post("/api-keys", json={"name": f"e2e {tenant}", "tenantId": tenant})
    assert response.status_code == 201, response.text
    return Api(admin.stack, response.json()["key"])


@pytest.fixture(scope="session")
def tenant_a(admin: Api) -> Api:
    return _tenant_api(admin, f"e2e-a-{os.getpid()}")


@pytest.fixture(scope="session")
def tenant_b(admin: Api) -> Api:
    return _tenant_api(admin, f"e2e-b-{os.getpid()}")
