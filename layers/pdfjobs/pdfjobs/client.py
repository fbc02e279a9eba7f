"""Python SDK for the PDF Jobs HTTP API.

    from pdfjobs.client import Client

    with Client() as api:                          # PDFJOBS_API_KEY / PDFJOBS_API_URL from the environment
        file = api.upload("report.pdf")            # presigned upload: create -> send to storage -> complete
        job = api.extract_text([file["id"]], pages="1-3", include_layout=True)
        job = api.wait(job["id"], timeout=300)     # polls, honouring the job's retryAfterMs
        if job["status"] == "succeeded":
            data = api.load_result_data(api.get_result(job["id"]))

Every typed method returns the decoded JSON body: a plain dict (or list) annotated with one of the
TypedDicts below, so `job["status"]` and unknown future fields both work. `Client.request` is the
escape hatch for anything not wrapped; it returns an `ApiResponse` with status, headers and body.

Failures raise a `PdfJobsClientError` subclass:
  ApiError     the server answered with a non-2xx status (the error envelope parsed into fields);
  NetworkError no answer at all (connection refused/reset, timeout) once the retries ran out;
  WaitTimeout  `wait()` reached its deadline before the job finished.

Every POST/DELETE carries an `Idempotency-Key` (a uuid4 unless the caller gives one), and the same key
is sent on every retry of that call, so a retry after a lost response replays instead of repeating.
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import json
import mimetypes
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, NotRequired, TypedDict, cast
from urllib.parse import quote, urljoin, urlsplit

import requests

from pdfjobs import __version__, filetypes

__all__ = [
    "DEFAULT_BASE_URL",
    "TERMINAL_STATUSES",
    "ApiError",
    "ApiKeyInfo",
    "ApiResponse",
    "Client",
    "CreatedApiKey",
    "Deleted",
    "FileObject",
    "Health",
    "Job",
    "JobDocument",
    "JobList",
    "JobResult",
    "NetworkError",
    "Output",
    "PdfJobsClientError",
    "RevokedApiKey",
    "Upload",
    "WaitTimeout",
    "detect_content_type",
    "find_output",
]

DEFAULT_BASE_URL = "http://127.0.0.1:3000/v1"
USER_AGENT = f"pdfjobs-python/{__version__}"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "expired", "deleted"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Methods that change state and so get an Idempotency-Key.
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Exceptions meaning "no (complete) answer arrived"; safe to retry because mutations carry a key.
TRANSIENT_EXCEPTIONS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
# wait(): bounds on the server's retryAfterMs hint, so a bad hint can neither hammer nor stall us.
MIN_POLL_INTERVAL = 0.2
MAX_POLL_INTERVAL = 5.0
DEFAULT_POLL_INTERVAL = 1.0
DOWNLOAD_CHUNK = 1024 * 1024


# ---------------------------------------------------------------------------------------------------
# Response shapes (static types only: at runtime every value is the plain decoded JSON)
# ---------------------------------------------------------------------------------------------------


class ApiKeyInfo(TypedDict):
    id: str
    name: str
    prefix: str
    tenantId: str
    scopes: list[str]
    createdAt: str
    revokedAt: NotRequired[str | None]
    lastUsedAt: NotRequired[str | None]


class CreatedApiKey(ApiKeyInfo):
    key: str  # the secret; returned only once, by create_api_key


class RevokedApiKey(TypedDict):
    id: str
    revoked: bool
    revokedAt: str


class Upload(TypedDict):
    uploadId: str
    method: Literal["POST", "PUT"]
    url: str
    fields: NotRequired[dict[str, str]]
    headers: NotRequired[dict[str, str]]
    expiresAt: str


class FileObject(TypedDict):
    id: str
    status: str
    filename: str
    contentType: str
    sizeBytes: int
    sha256: str
    pageCount: int | None
    encrypted: bool
    createdAt: str
    expiresAt: str


class Deleted(TypedDict):
    id: str
    deleted: bool


class JobError(TypedDict):
    code: str
    message: str


class JobDocument(TypedDict):
    index: int
    fileId: str
    status: str
    pageCount: int | None
    error: NotRequired[JobError | None]


class QualityCheck(TypedDict):
    name: str
    passed: bool


class Job(TypedDict):
    id: str
    jobType: str
    status: str
    progress: int
    inputFileIds: list[str]
    documents: list[JobDocument]
    statusUrl: str
    retryAfterMs: int | None
    createdAt: str
    updatedAt: str
    expiresAt: str
    error: NotRequired[JobError | None]
    qualityChecks: NotRequired[list[QualityCheck]]


class JobList(TypedDict):
    items: list[Job]
    nextCursor: str | None


class Output(TypedDict):
    name: str
    contentType: str
    sizeBytes: int
    url: str
    expiresAt: str


class JobResult(TypedDict):
    jobId: str
    status: str
    data: Any
    outputs: list[Output]


class Health(TypedDict):
    status: str
    checks: dict[str, Any]


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------


class PdfJobsClientError(Exception):
    """Base of every error this SDK raises."""


class ApiError(PdfJobsClientError):
    """The API (or a storage URL it handed out) answered with a non-2xx status.

    `code` is the envelope's dotted code, or "http.<status>" when the body is not the envelope;
    `body` is the decoded JSON body (or the text when it is not JSON).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.body = body
        super().__init__(str(self))

    def __str__(self) -> str:
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.status} {self.code}: {self.message}{suffix}"

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        body = _decode_body(response)
        envelope = body.get("error") if isinstance(body, dict) else None
        request_id = response.headers.get("X-Request-Id")
        if isinstance(envelope, dict) and isinstance(envelope.get("code"), str):
            details = envelope.get("details")
            return cls(
                response.status_code,
                envelope["code"],
                str(envelope.get("message") or response.reason or ""),
                request_id=request_id or envelope.get("requestId"),
                details=details if isinstance(details, dict) else None,
                headers=response.headers,
                body=body,
            )
        text = body if isinstance(body, str) else ""
        message = text.strip()[:300] or response.reason or f"HTTP {response.status_code}"
        return cls(
            response.status_code,
            f"http.{response.status_code}",
            message,
            request_id=request_id,
            headers=response.headers,
            body=body,
        )


class NetworkError(PdfJobsClientError):
    """No response arrived (connection refused or reset, timeout) after every retry."""

    def __init__(self, method: str, url: str, cause: Exception) -> None:
        self.method = method
        self.url = url
        self.cause = cause
        super().__init__(f"{method} {url}: {type(cause).__name__}: {cause}")


class WaitTimeout(PdfJobsClientError):
    """wait() reached its deadline; `job` is the last state seen (still not terminal)."""

    def __init__(self, job_id: str, timeout: float, job: Job) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.job = job
        super().__init__(f"job {job_id} still {job.get('status')!r} after {timeout:g}s")


# ---------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiResponse:
    """One answered request: `body` is the decoded JSON (None when empty, text when not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    request_id: str | None = None
    replayed: bool = False  # the server answered from its idempotency record (Idempotent-Replayed: true)
    raw: requests.Response | None = field(default=None, repr=False, compare=False)


PathLike = str | os.PathLike[str]
Destination = PathLike | IO[bytes]
ProgressCallback = Callable[[Job], None]


class Client:
    """A PDF Jobs API client. Thread-safe as far as the underlying requests.Session is.

    Retries 429, 500, 502, 503, 504 and connection errors/timeouts up to `max_retries` times, sleeping
    Retry-After when the response has one, else exponential backoff with full jitter
    (uniform(0, min(backoff_max, backoff_base * 2**attempt))); every sleep is capped by backoff_max.
    `sleep` and `clock` are injectable for tests.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 20,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key = api_key or os.environ.get("PDFJOBS_API_KEY") or None
        self.base_url = (base_url or os.environ.get("PDFJOBS_API_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session if this client created it (a session passed in is left open)."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- API keys ----------------------------------------------------------------------------------

    def create_api_key(
        self,
        name: str,
        scopes: Sequence[str] | None = None,
        tenant_id: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> CreatedApiKey:
        payload: dict[str, Any] = {"name": name}
        if scopes is not None:
            payload["scopes"] = list(scopes)
        if tenant_id is not None:
            payload["tenantId"] = tenant_id
        return cast(CreatedApiKey, self._call("POST", "/api-keys", json=payload, idempotency_key=idempotency_key))

    def list_api_keys(self) -> list[ApiKeyInfo]:
        """The keys' metadata (the `items` of GET /api-keys); secrets are never listed."""
        return cast(list[ApiKeyInfo], self._call("GET", "/api-keys")["items"])

    def revoke_api_key(self, key_id: str, *, idempotency_key: str | None = None) -> RevokedApiKey:
        return cast(
            RevokedApiKey,
            self._call("DELETE", f"/api-keys/{_seg(key_id)}", idempotency_key=idempotency_key),
        )

    # -- uploads and files -------------------------------------------------------------------------

    def create_upload(
        self, filename: str, content_type: str, size_bytes: int, *, idempotency_key: str | None = None
    ) -> Upload:
        payload = {"filename": filename, "contentType": content_type, "sizeBytes": size_bytes}
        return cast(Upload, self._call("POST", "/uploads", json=payload, idempotency_key=idempotency_key))

    def complete_upload(self, upload_id: str, *, idempotency_key: str | None = None) -> FileObject:
        return cast(
            FileObject,
            self._call("POST", f"/uploads/{_seg(upload_id)}/complete", json={}, idempotency_key=idempotency_key),
        )

    def send_upload(self, upload: Upload, path: PathLike, content_type: str) -> None:
        """Send the file's bytes to the storage URL of `upload`, as its `method` says. No API key is sent."""
        path = Path(path)
        url = upload["url"]
        if upload["method"] == "POST":
            fields = dict(upload.get("fields") or {})

            def post_body(fh: IO[bytes]) -> dict[str, Any]:
                # requests writes data fields before files, and S3 needs `file` to be the last field.
                return {"data": fields, "files": {"file": (path.name, fh, content_type)}}

            self._send_file("POST", url, path, post_body, headers={})
        elif upload["method"] == "PUT":
            headers = dict(upload.get("headers") or {})
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = content_type
            self._send_file("PUT", url, path, lambda fh: {"data": fh}, headers=headers)
        else:
            raise ValueError(f"unsupported upload method {upload['method']!r}")

    def upload(self, path: PathLike, content_type: str | None = None, *, filename: str | None = None) -> FileObject:
        """Upload any size of file: POST /uploads, send the bytes to storage, POST /uploads/{id}/complete.

        `content_type` defaults to what the file's first bytes say (then its extension).
        """
        path = Path(path)
        content_type = content_type or detect_content_type(path)
        upload = self.create_upload(filename or path.name, content_type, path.stat().st_size)
        self.send_upload(upload, path, content_type)
        return self.complete_upload(upload["uploadId"])

    def upload_small(
        self,
        path: PathLike,
        content_type: str | None = None,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
    ) -> FileObject:
        """Upload in one request (POST /files, multipart); the server caps this at about 4 MB."""
        path = Path(path)
        content_type = content_type or detect_content_type(path)
        # Bytes, not a file object, so every retry can send the same body again.
        files = {"file": (filename or path.name, path.read_bytes(), content_type)}
        return cast(FileObject, self._call("POST", "/files", files=files, idempotency_key=idempotency_key))

    def get_file(self, file_id: str) -> FileObject:
        return cast(FileObject, self._call("GET", f"/files/{_seg(file_id)}"))

    def get_file_content_url(self, file_id: str) -> str:
        """The short-lived signed URL that GET /files/{id}/content redirects to."""
        response = self.request("GET", f"/files/{_seg(file_id)}/content", allow_redirects=False)
        location = response.headers.get("Location")
        if not location:
            raise ApiError(
                response.status,
                "client.no_redirect",
                "GET /files/{id}/content did not redirect",
                request_id=response.request_id,
                headers=response.headers,
                body=response.body,
            )
        return urljoin(self.base_url + "/", location)

    def download_file(self, file_id: str, dest: Destination) -> int:
        """Download a file's bytes to `dest` (a path, written atomically, or a binary file). Returns bytes."""
        return self._download(self.get_file_content_url(file_id), dest)

    def delete_file(self, file_id: str, *, idempotency_key: str | None = None) -> Deleted:
        return cast(Deleted, self._call("DELETE", f"/files/{_seg(file_id)}", idempotency_key=idempotency_key))

    # -- jobs --------------------------------------------------------------------------------------

    def create_job(
        self,
        job_type: str,
        input_file_ids: str | Sequence[str],
        settings: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        if isinstance(input_file_ids, str):
            input_file_ids = [input_file_ids]
        payload = {
            "jobType": job_type,
            "inputFileIds": list(input_file_ids),
            "settings": dict(settings or {}),
        }
        return cast(Job, self._call("POST", "/jobs", json=payload, idempotency_key=idempotency_key))

    def extract_text(
        self, file_ids: str | Sequence[str], *, idempotency_key: str | None = None, **settings: Any
    ) -> Job:
        """Submit an extract_text job. Settings may be spelled snake_case (include_layout=True) or as the
        API spells them (includeLayout=True); None values are left out. Known: pages, include_layout,
        include_page_citations, password."""
        clean = {_camel(name): value for name, value in settings.items() if value is not None}
        return self.create_job("extract_text", file_ids, clean, idempotency_key=idempotency_key)

    def searchable_pdf(
        self, file_ids: str | Sequence[str], *, idempotency_key: str | None = None, **settings: Any
    ) -> Job:
        """Submit a searchable_pdf job (settings as for extract_text: snake_case or camelCase). Known:
        engine, languages, mode (skip|redo|force), deskew, rotate_pages, dpi, pages, password."""
        clean = {_camel(name): value for name, value in settings.items() if value is not None}
        return self.create_job("searchable_pdf", file_ids, clean, idempotency_key=idempotency_key)

    def ocr_pdf(self, file_ids: str | Sequence[str], *, idempotency_key: str | None = None, **settings: Any) -> Job:
        """Submit an ocr_pdf job: searchable_pdf's settings plus output_format (json|txt|hocr|pdf)."""
        clean = {_camel(name): value for name, value in settings.items() if value is not None}
        return self.create_job("ocr_pdf", file_ids, clean, idempotency_key=idempotency_key)

    def html_to_pdf(
        self, file_ids: str | Sequence[str] = (), *, idempotency_key: str | None = None, **settings: Any
    ) -> Job:
        """Submit an html_to_pdf job: one uploaded HTML file, or html=... or url=... Known: page_size,
        orientation, margin, print_background, header, footer, media, base_url, strict_resources."""
        clean = {_camel(name): value for name, value in settings.items() if value is not None}
        return self.create_job("html_to_pdf", file_ids, clean, idempotency_key=idempotency_key)

    def engines(self) -> list[dict[str, Any]]:
        """GET /engines: each engine's availability (and why not), languages, formats and limits."""
        return list(cast(dict[str, Any], self._call("GET", "/engines"))["engines"])

    def get_job(self, job_id: str) -> Job:
        return cast(Job, self._call("GET", f"/jobs/{_seg(job_id)}"))

    def list_jobs(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | None = None,
        job_type: str | None = None,
    ) -> JobList:
        """One page of jobs, newest first as the server orders them; pass `nextCursor` back as `cursor`."""
        params = {"limit": limit, "cursor": cursor, "status": status, "jobType": job_type}
        return cast(JobList, self._call("GET", "/jobs", params=params))

    def iter_jobs(
        self, *, status: str | None = None, job_type: str | None = None, page_size: int | None = None
    ) -> Iterator[Job]:
        """Every job, following nextCursor page by page (lazily)."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_jobs(limit=page_size, cursor=cursor, status=status, job_type=job_type)
            yield from page["items"]
            cursor = page.get("nextCursor")
            # A repeated cursor would loop forever; treat it as the end.
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    def cancel_job(self, job_id: str, *, idempotency_key: str | None = None) -> Job:
        return cast(Job, self._call("POST", f"/jobs/{_seg(job_id)}/cancel", json={}, idempotency_key=idempotency_key))

    def delete_job(self, job_id: str, *, idempotency_key: str | None = None) -> Deleted:
        return cast(Deleted, self._call("DELETE", f"/jobs/{_seg(job_id)}", idempotency_key=idempotency_key))

    def get_result(self, job_id: str) -> JobResult:
        """The result of a succeeded job. Raises ApiError result.not_ready / job.failed (409) or
        result.expired (410)."""
        return cast(JobResult, self._call("GET", f"/jobs/{_seg(job_id)}/result"))

    def download_output(self, output: Output | str, dest: Destination) -> int:
        """Download one of a result's outputs (the output dict or its URL) to `dest`. Returns bytes."""
        url = output if isinstance(output, str) else output["url"]
        return self._download(urljoin(self.base_url + "/", url), dest)

    def load_result_data(self, result: JobResult, output_name: str = "result.json") -> Any:
        """The result's JSON: `data` when inline, else the JSON output file downloaded and decoded."""
        if result.get("data") is not None:
            return result["data"]
        output = find_output(result, output_name)
        if output is None:
            raise LookupError(f"result of {result.get('jobId')} has no inline data and no {output_name!r}")
        buffer = io.BytesIO()
        self.download_output(output, buffer)
        return json.loads(buffer.getvalue())

    def wait(
        self,
        job_id: str,
        timeout: float | None = 600,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Job:
        """Poll the job until it reaches a terminal status and return it (whatever that status is).

        Between polls it sleeps `poll_interval` if given, else the job's retryAfterMs clamped to
        [MIN_POLL_INTERVAL, MAX_POLL_INTERVAL], never past the deadline. `on_progress(job)` is called
        after every poll. Raises WaitTimeout after `timeout` seconds (None waits forever).
        """
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            job = self.get_job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job.get("status") in TERMINAL_STATUSES:
                return job
            delay = poll_interval if poll_interval is not None else _poll_hint(job)
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise WaitTimeout(job_id, cast(float, timeout), job)
                delay = min(delay, remaining)
            self._sleep(max(0.0, delay))

    # -- health ------------------------------------------------------------------------------------

    def health(self) -> Health:
        """GET /health, one attempt (a health probe should report, not wait out an outage).

        A 503 raises ApiError whose `.body` holds the server's {"status", "checks"}."""
        return cast(Health, self._call("GET", "/health", max_retries=0))

    # -- generic request ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        max_retries: int | None = None,
        allow_redirects: bool = True,
    ) -> ApiResponse:
        """Send one API call (with auth, retries and an Idempotency-Key on mutations) and return the
        decoded response; raises ApiError for a non-2xx answer (3xx is returned when not following
        redirects). `path` is relative to base_url ("/jobs") or an absolute URL."""
        method = method.upper()
        url = path if urlsplit(path).scheme else self.base_url + "/" + path.lstrip("/")
        all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        # The key goes only to the API's own origin, even when `path` is an absolute URL elsewhere.
        if self.api_key and _same_origin(url, self.base_url):
            all_headers["Authorization"] = f"Bearer {self.api_key}"
        if method in MUTATING_METHODS:
            # Generated once per call, outside the retry loop: every retry must carry the same key.
            all_headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        all_headers.update(headers or {})
        kwargs: dict[str, Any] = {
            "params": {k: v for k, v in (params or {}).items() if v is not None},
            "allow_redirects": allow_redirects,
        }
        if json is not None:
            kwargs["json"] = json
        if files is not None:
            kwargs["files"] = files
        response = self._send(
            method,
            url,
            all_headers,
            lambda: kwargs,
            max_retries=self.max_retries if max_retries is None else max_retries,
        )
        ok = 200 <= response.status_code < 300 or (not allow_redirects and 300 <= response.status_code < 400)
        if not ok:
            raise ApiError.from_response(response)
        return ApiResponse(
            status=response.status_code,
            headers=response.headers,
            body=_decode_body(response),
            request_id=response.headers.get("X-Request-Id"),
            replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true",
            raw=response,
        )

    # -- internals ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).body

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        make_kwargs: Callable[[], dict[str, Any]],
        *,
        max_retries: int,
        stream: bool = False,
    ) -> requests.Response:
        """Send with retries; returns the last response (which may be an error to raise)."""
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method, url, headers=dict(headers), timeout=self.timeout, stream=stream, **make_kwargs()
                )
            except TRANSIENT_EXCEPTIONS as exc:
                if attempt >= max_retries:
                    raise NetworkError(method, url, exc) from exc
                self._sleep(self._retry_delay(attempt, None))
                attempt += 1
                continue
            if attempt < max_retries and self._should_retry(response, attempt):
                delay = self._retry_delay(attempt, response.headers.get("Retry-After"))
                response.close()
                self._sleep(delay)
                attempt += 1
                continue
            return response

    @staticmethod
    def _should_retry(response: requests.Response, attempt: int) -> bool:
        if response.status_code in RETRY_STATUSES:
            return True
        # After a lost response our own earlier attempt may still be running under the same key; waiting
        # for it is the only way to get its answer. A first-attempt in_progress is someone else's: raise it.
        return attempt > 0 and response.status_code == 409 and _error_code(response) == "idempotency.in_progress"

    def _retry_delay(self, attempt: int, retry_after: str | None) -> float:
        hinted = _parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.backoff_max)
        # Full jitter: spreads retries of many clients over the whole window instead of synchronising them.
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))  # noqa: S311

    def _send_file(
        self,
        method: str,
        url: str,
        path: Path,
        body: Callable[[IO[bytes]], dict[str, Any]],
        *,
        headers: dict[str, str],
    ) -> None:
        headers = {"User-Agent": USER_AGENT, **headers}
        with path.open("rb") as fh:

            def make_kwargs() -> dict[str, Any]:
                fh.seek(0)  # a retry must send the file from its first byte again
                return body(fh)

            response = self._send(method, url, headers, make_kwargs, max_retries=self.max_retries)
        if not 200 <= response.status_code < 300:
            raise ApiError.from_response(response)

    def _download(self, url: str, dest: Destination) -> int:
        headers = {"User-Agent": USER_AGENT}
        # Signed URLs carry their own authorisation; the API key goes only to the API's own origin.
        if self.api_key and _same_origin(url, self.base_url):
            headers["Authorization"] = f"Bearer {self.api_key}"
        response = self._send("GET", url, headers, dict, max_retries=self.max_retries, stream=True)
        with response:
            if not 200 <= response.status_code < 300:
                raise ApiError.from_response(response)
            try:
                if isinstance(dest, (str, os.PathLike)):
                    return _write_atomically(Path(dest), response)
                return _copy(response, dest)
            except TRANSIENT_EXCEPTIONS as exc:
                raise NetworkError("GET", url, exc) from exc


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def detect_content_type(path: PathLike) -> str:
    """The file's content type from its first bytes, else from its extension, else octet-stream."""
    with open(path, "rb") as fh:
        head = fh.read(filetypes.SNIFF_BYTES)
    sniffed = filetypes.sniff(head)
    if sniffed:
        return sniffed
    guessed, _ = mimetypes.guess_type(str(path))
    return guessed or "application/octet-stream"


def find_output(result: JobResult, name: str) -> Output | None:
    """The output called `name` (e.g. "result.txt") in a job result, or None."""
    return next((o for o in result.get("outputs") or [] if o.get("name") == name), None)


def _seg(value: str) -> str:
    """One URL path segment: an id can never reach another route."""
    return quote(value, safe="")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _decode_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _error_code(response: requests.Response) -> str | None:
    body = _decode_body(response)
    envelope = body.get("error") if isinstance(body, dict) else None
    return envelope.get("code") if isinstance(envelope, dict) else None


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date (RFC 9110 10.2.3); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # "-0000" parses naive; HTTP dates are always GMT
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _poll_hint(job: Job) -> float:
    hint_ms = job.get("retryAfterMs")
    if not isinstance(hint_ms, (int, float)) or hint_ms <= 0:
        return DEFAULT_POLL_INTERVAL
    return min(MAX_POLL_INTERVAL, max(MIN_POLL_INTERVAL, hint_ms / 1000))


def _same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _copy(response: requests.Response, out: IO[bytes]) -> int:
    written = 0
    for chunk in response.iter_content(DOWNLOAD_CHUNK):
        out.write(chunk)
        written += len(chunk)
    return written


def _write_atomically(dest: Path, response: requests.Response) -> int:
    """Stream into a temporary file beside `dest` and rename it: a failed download leaves no partial file."""
    # open(), not mkstemp(): the file gets the usual umask permissions rather than 0600.
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with tmp.open("xb") as out:
            written = _copy(response, out)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return written
