"""A scripted, in-memory fake of the PDF Jobs HTTP API and of the storage ("S3") it hands URLs to.

Two real ThreadingHTTPServers on 127.0.0.1 (port 0): one serves the API under /v1, the other plays the
bucket (presigned POST and PUT targets, signed GET downloads). A separate port for storage matters: the
client must never send the API key there, and the tests check it. Every request is recorded.

Jobs advance one step of `job_plan` per GET /jobs/{id}; a job whose settings.password is "wrong" ends
failed with pdf.password_incorrect. `fail_next` scripts error answers (optionally after really handling
the request, to imitate a lost response) and `delay_next` a slow answer.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

API_KEY = "pdfj_test_0123456789abcdef"
NOW = "2025-01-01T00:00:00Z"
LATER = "2025-01-02T00:00:00Z"
EXTRACT_DATA = {"text": "Hello world", "pages": [{"page": 1, "text": "Hello world"}]}
RESULT_TXT = b"Hello world\n"
RESULT_MD = b"# Hello\n\nHello world\n"


@dataclass
class Recorded:
    server: str  # "api" or "s3"
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def multipart(self) -> list[tuple[str, str | None, bytes]]:
        """(name, filename, value) of each part, in the order sent."""
        return parse_multipart(self.headers.get("content-type", ""), self.body)


@dataclass
class Scripted:
    status: int | None  # None: handle the request normally (after `delay`)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after_processing: bool = False  # really handle it, then answer this instead (a "lost" response)
    delay: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closes its socket; the late write's BrokenPipe is expected


class FakeApi:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.keys: dict[str, dict[str, Any]] = {
            API_KEY: {
                "id": "key_root",
                "name": "root",
                "prefix": API_KEY[:9],
                "tenantId": "ten_1",
                "scopes": ["*"],
                "createdAt": NOW,
            }
        }
        self.files: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, bytes] = {}  # the bucket
        self.idempotency: dict[str, tuple[str, int, Any]] = {}  # key -> (payload hash, status, body)
        self.scripted: dict[tuple[str, str], deque[Scripted]] = {}
        self.job_plan: list[tuple[str, int]] = [
            ("queued", 0),
            ("running", 40),
            ("running", 80),
            ("succeeded", 100),
        ]
        self.retry_after_ms = 10
        self.upload_method = "POST"
        self.inline_result = True
        self.healthy = True
        self._ids = itertools.count(1)
        self._servers: list[ThreadingHTTPServer] = []

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeApi:
        for role in ("api", "s3"):
            handler = type(f"{role}Handler", (_Handler,), {"fake": self, "role": role})
            server = _QuietServer(("127.0.0.1", 0), handler)
            # A short poll interval keeps shutdown() (which waits for the loop to notice) fast.
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}/v1"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}/bucket"

    # -- scripting and inspection --------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        after_processing: bool = False,
    ) -> None:
        """The next `times` requests to `method path` (path as sent, e.g. "/v1/jobs") answer `status`."""
        if body is None:
            body = _envelope(f"http.{status}", "scripted failure", "req_scripted")
        queue = self.scripted.setdefault((method, path), deque())
        for _ in range(times):
            queue.append(Scripted(status, body, dict(headers or {}), after_processing))

    def delay_next(self, method: str, path: str, seconds: float) -> None:
        self.scripted.setdefault((method, path), deque()).append(Scripted(None, delay=seconds))

    def recorded(self, method: str | None = None, path: str | None = None, server: str = "api") -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.server == server and (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def add_file(self, filename: str = "doc.pdf", content: bytes = b"%PDF-1.7\n") -> dict[str, Any]:
        with self.lock:
            return self._new_file(filename, "application/pdf", content)

    def add_job(self, status: str = "succeeded", **extra: Any) -> dict[str, Any]:
        """A job already in `status` (it stays there)."""
        with self.lock:
            job = self._new_job("extract_text", [], {})
            job.update(status=status, progress=100 if status == "succeeded" else job["progress"], **extra)
            job["_plan"] = [(status, job["progress"])]
            return _public(job)

    # -- dispatch ------------------------------------------------------------------------------------

    def dispatch(self, handler: _Handler, role: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        record = Recorded(
            role,
            handler.command,
            split.path,
            parse_qs(split.query),
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self.lock:
            self.requests.append(record)
            queue = self.scripted.get((record.method, record.path))
            script = queue.popleft() if queue else None
        if script is not None and script.delay:
            time.sleep(script.delay)
        if script is not None and script.status is not None and not script.after_processing:
            status, payload, headers = script.status, script.body, script.headers
        else:
            with self.lock:
                if role == "api":
                    status, payload, headers = self._api(record)
                else:
                    status, payload, headers = self._s3(record)
            if script is not None and script.status is not None:
                status, payload, headers = script.status, script.body, script.headers
        _respond(handler, status, payload, headers, next(self._ids))

    # -- storage -------------------------------------------------------------------------------------

    def _s3(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        if r.method == "POST" and r.path == "/bucket":
            parts = r.multipart()
            fields = {name: value.decode() for name, filename, value in parts if filename is None}
            if not parts or parts[-1][0] != "file" or fields.get("policy") != "fake-policy":
                return 400, "<Error><Code>InvalidArgument</Code></Error>", {}
            self.objects[fields["key"]] = parts[-1][2]
            return 204, None, {}
        key = r.path.removeprefix("/bucket/")
        if r.method == "PUT":
            if r.query.get("X-Amz-Signature") != ["sig"]:
                return 403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", {}
            self.objects[key] = r.body
            return 200, None, {}
        if r.method == "GET" and key in self.objects:
            return 200, self.objects[key], {"Content-Type": "application/octet-stream"}
        return 404, "<Error><Code>NoSuchKey</Code></Error>", {}

    # -- API -----------------------------------------------------------------------------------------

    def _api(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        path = r.path.removeprefix("/v1")
        if path == "/health" and r.method == "GET":
            if self.healthy:
                return 200, {"status": "ok", "checks": {"table": "ok", "bucket": "ok"}}, {}
            return 503, {"status": "degraded", "checks": {"table": "down"}}, {}
        auth = r.headers.get("authorization", "")
        if not auth:
            return _error(401, "auth.missing_key", "No API key was sent.")
        if auth.removeprefix("Bearer ") not in self.keys:
            return _error(401, "auth.invalid_key", "The API key is not recognised.")

        key = r.headers.get("idempotency-key")
        if r.method in ("POST", "DELETE") and key:
            fingerprint = hashlib.sha256(f"{r.method} {path}".encode() + r.body).hexdigest()
            if key in self.idempotency:
                stored_hash, status, body = self.idempotency[key]
                if stored_hash != fingerprint:
                    return _error(422, "idempotency.payload_mismatch", "Different payload.")
                return status, body, {"Idempotent-Replayed": "true"}
            status, body, headers = self._route(r, path)
            if status < 500:
                self.idempotency[key] = (fingerprint, status, body)
            return status, body, headers
        return self._route(r, path)

    def _route(self, r: Recorded, path: str) -> tuple[int, Any, dict[str, str]]:
        parts = path.strip("/").split("/")
        m = r.method
        match parts:
            case ["api-keys"] if m == "POST":
                payload = r.json() or {}
                secret = f"pdfj_{next(self._ids):020d}"
                info = {
                    "id": f"key_{next(self._ids)}",
                    "name": payload["name"],
                    "prefix": secret[:9],
                    "tenantId": payload.get("tenantId", "ten_1"),
                    "scopes": payload.get("scopes", ["*"]),
                    "createdAt": NOW,
                }
                self.keys[secret] = info
                return 201, {**info, "key": secret}, {}
            case ["api-keys"] if m == "GET":
                return 200, {"items": list(self.keys.values())}, {}
            case ["api-keys", key_id] if m == "DELETE":
                for secret, info in list(self.keys.items()):
                    if info["id"] == key_id:
                        del self.keys[secret]
                        return 200, {"id": key_id, "revoked": True, "revokedAt": NOW}, {}
                return _not_found()
            case ["uploads"] if m == "POST":
                payload = r.json()
                upload_id = f"upl_{next(self._ids)}"
                object_key = f"uploads/{upload_id}"
                self.uploads[upload_id] = {**payload, "key": object_key}
                answer: dict[str, Any] = {
                    "uploadId": upload_id,
                    "method": self.upload_method,
                    "expiresAt": LATER,
                }
                if self.upload_method == "POST":
                    answer["url"] = self.s3_url
                    answer["fields"] = {
                        "key": object_key,
                        "Content-Type": payload["contentType"],
                        "policy": "fake-policy",
                        "x-amz-signature": "sig",
                    }
                else:
                    answer["url"] = f"{self.s3_url}/{object_key}?X-Amz-Signature=sig"
                    answer["headers"] = {"Content-Type": payload["contentType"]}
                return 201, answer, {}
            case ["uploads", upload_id, "complete"] if m == "POST":
                upload = self.uploads.get(upload_id)
                if upload is None:
                    return _not_found()
                content = self.objects.get(upload["key"])
                if content is None:
                    return _error(409, "upload.not_received", "No object has been uploaded for this upload yet.")
                if len(content) != upload["sizeBytes"]:
                    return _error(400, "upload.size_mismatch", "Size differs.")
                return 200, self._new_file(upload["filename"], upload["contentType"], content), {}
            case ["files"] if m == "POST":
                found = [(fn, v) for name, fn, v in r.multipart() if name == "file"]
                if not found:
                    return _error(400, "request.invalid", "No file field.")
                filename, content = found[0]
                return 201, self._new_file(filename or "upload", "application/pdf", content), {}
            case ["files", file_id] if m == "GET":
                return (200, self.files[file_id], {}) if file_id in self.files else _not_found()
            case ["files", file_id, "content"] if m == "GET":
                if file_id not in self.files:
                    return _not_found()
                return 302, None, {"Location": f"{self.s3_url}/files/{file_id}?X-Amz-Signature=sig"}
            case ["files", file_id] if m == "DELETE":
                if self.files.pop(file_id, None) is None:
                    return _not_found()
                return 200, {"id": file_id, "deleted": True}, {}
            case ["jobs"] if m == "POST":
                payload = r.json() or {}
                missing = [f for f in payload.get("inputFileIds", []) if f not in self.files]
                if missing:
                    return _error(404, "resource.not_found", "Input file not found.", {"fileIds": missing})
                created = self._new_job(payload["jobType"], payload["inputFileIds"], payload.get("settings") or {})
                return 202, _public(created), {}
            case ["jobs"] if m == "GET":
                items = sorted(self.jobs.values(), key=lambda j: j["id"])
                for name, key in (("status", "status"), ("jobType", "jobType")):
                    if name in r.query:
                        items = [j for j in items if j[key] == r.query[name][0]]
                start = int(r.query.get("cursor", ["0"])[0])
                limit = int(r.query.get("limit", ["50"])[0])
                page = items[start : start + limit]
                next_cursor = str(start + limit) if start + limit < len(items) else None
                return 200, {"items": [_public(j) for j in page], "nextCursor": next_cursor}, {}
            case ["jobs", job_id] if m == "GET":
                job = self.jobs.get(job_id)
                if job is None:
                    return _not_found()
                self._advance(job)
                return 200, _public(job), {}
            case ["jobs", job_id, "cancel"] if m == "POST":
                job = self.jobs.get(job_id)
                if job is None:
                    return _not_found()
                if job["status"] in ("succeeded", "failed", "cancelled", "expired", "deleted"):
                    return _error(409, "job.not_cancellable", "The job has finished and cannot be cancelled.")
                job.update(status="cancelled", _plan=[("cancelled", job["progress"])], _step=0)
                return 200, _public(job), {}
            case ["jobs", job_id] if m == "DELETE":
                if self.jobs.pop(job_id, None) is None:
                    return _not_found()
                return 200, {"id": job_id, "deleted": True}, {}
            case ["jobs", job_id, "result"] if m == "GET":
                job = self.jobs.get(job_id)
                if job is None:
                    return _not_found()
                if job["status"] == "failed":
                    return _error(409, "job.failed", "The job failed; it has no result.")
                if job["status"] != "succeeded":
                    return _error(409, "result.not_ready", "The job has not finished yet.")
                outputs = []
                for name, content_type, content in (
                    ("result.json", "application/json", json.dumps(EXTRACT_DATA).encode()),
                    ("result.txt", "text/plain", RESULT_TXT),
                    ("result.md", "text/markdown", RESULT_MD),
                ):
                    object_key = f"results/{job_id}/{name}"
                    self.objects[object_key] = content
                    url = f"{self.s3_url}/{object_key}?X-Amz-Signature=sig"
                    outputs.append(
                        {
                            "name": name,
                            "contentType": content_type,
                            "sizeBytes": len(content),
                            "url": url,
                            "expiresAt": LATER,
                        }
                    )
                data = EXTRACT_DATA if self.inline_result else None
                return 200, {"jobId": job_id, "status": "succeeded", "data": data, "outputs": outputs}, {}
        return _error(404, "route.not_found", "No such route.")

    # -- state ---------------------------------------------------------------------------------------

    def _new_file(self, filename: str, content_type: str, content: bytes) -> dict[str, Any]:
        file_id = f"file_{next(self._ids):04d}"
        self.objects[f"files/{file_id}"] = content
        self.files[file_id] = {
            "id": file_id,
            "status": "ready",
            "filename": filename,
            "contentType": content_type,
            "sizeBytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "pageCount": 1,
            "encrypted": False,
            "createdAt": NOW,
            "expiresAt": LATER,
        }
        return self.files[file_id]

    def _new_job(self, job_type: str, file_ids: list[str], settings: dict[str, Any]) -> dict[str, Any]:
        job_id = f"job_{next(self._ids):04d}"
        plan = list(self.job_plan)
        if settings.get("password") == "wrong":
            plan[-1] = ("failed", plan[-1][1])
        status, progress = plan[0]
        job = {
            "id": job_id,
            "jobType": job_type,
            "status": status,
            "progress": progress,
            "inputFileIds": file_ids,
            "documents": [{"index": i, "fileId": f, "status": status, "pageCount": 1} for i, f in enumerate(file_ids)],
            "statusUrl": f"/v1/jobs/{job_id}",
            "retryAfterMs": self.retry_after_ms,
            "createdAt": NOW,
            "updatedAt": NOW,
            "expiresAt": LATER,
            "settings": settings,
            "_plan": plan,
            "_step": 0,
        }
        self.jobs[job_id] = job
        return job

    def _advance(self, job: dict[str, Any]) -> None:
        job["_step"] = min(job["_step"] + 1, len(job["_plan"]) - 1)
        job["status"], job["progress"] = job["_plan"][job["_step"]]
        if job["status"] == "failed":
            job["error"] = {
                "code": "pdf.password_incorrect",
                "message": "The password does not open the PDF.",
            }


# -- HTTP plumbing -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fake: FakeApi
    role: str

    def _dispatch(self) -> None:
        self.fake.dispatch(self, self.role)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _respond(handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str], n: int) -> None:
    if payload is None:
        data, content_type = b"", None
    elif isinstance(payload, bytes):
        data, content_type = payload, "application/octet-stream"
    elif isinstance(payload, str):
        data, content_type = payload.encode(), "application/xml"
    else:
        data, content_type = json.dumps(payload).encode(), "application/json"
    handler.send_response(status)
    handler.send_header("X-Request-Id", f"req_{n:06d}")
    if content_type and not any(k.lower() == "content-type" for k in headers):
        handler.send_header("Content-Type", content_type)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _envelope(code: str, message: str, request_id: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "requestId": request_id}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> tuple[int, Any, dict[str, str]]:
    return status, _envelope(code, message, "req_envelope", details), {}


def _not_found() -> tuple[int, Any, dict[str, str]]:
    return _error(404, "resource.not_found", "The resource was not found.", {"hint": "check the id"})


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body, policy=email.policy.HTTP
    )
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts.append((str(name), part.get_filename(), cast(bytes, part.get_payload(decode=True) or b"")))
    return parts
