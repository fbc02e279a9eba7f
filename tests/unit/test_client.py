"""pdfjobs.client against a real loopback HTTP server running a scripted fake of the API."""

from __future__ import annotations

import email.utils
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import pdfjobs
from pdfjobs.client import (
    ApiError,
    Client,
    NetworkError,
    WaitTimeout,
    detect_content_type,
    find_output,
)

try:  # tests/unit is on sys.path when it is not a package (pytest's default "prepend" import mode)
    from fake_api_server import API_KEY, EXTRACT_DATA, RESULT_TXT, FakeApi
except ImportError:  # pragma: no cover - when tests/unit becomes a package
    from .fake_api_server import API_KEY, EXTRACT_DATA, RESULT_TXT, FakeApi

PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy or a real key in the developer's environment must not leak into loopback tests.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PDFJOBS_API_KEY", raising=False)
    monkeypatch.delenv("PDFJOBS_API_URL", raising=False)


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


class Sleeper:
    """Records requested sleeps instead of sleeping; optionally advances a fake clock."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def client(fake: FakeApi, sleeper: Sleeper) -> Iterator[Client]:
    with Client(API_KEY, fake.api_url, timeout=5, sleep=sleeper, clock=sleeper.clock) as c:
        yield c


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF_BYTES)
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- configuration and headers -----------------------------------------------------------------------


def test_sends_bearer_key_user_agent_and_accept(client: Client, fake: FakeApi) -> None:
    job = fake.add_job()
    assert client.get_job(job["id"])["id"] == job["id"]
    (request,) = fake.recorded("GET", f"/v1/jobs/{job['id']}")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"] == f"pdfjobs-python/{pdfjobs.__version__}"
    assert request.headers["accept"] == "application/json"
    assert "idempotency-key" not in request.headers  # GETs carry none


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Client().base_url == "http://127.0.0.1:3000/v1"
    assert Client().api_key is None
    monkeypatch.setenv("PDFJOBS_API_KEY", "pdfj_env")
    monkeypatch.setenv("PDFJOBS_API_URL", "http://api.example/v1/")
    c = Client()
    assert (c.api_key, c.base_url) == ("pdfj_env", "http://api.example/v1")
    assert Client("pdfj_arg", "http://other/v1").api_key == "pdfj_arg"


# -- errors ------------------------------------------------------------------------------------------


def test_error_envelope_becomes_api_error_fields(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    with pytest.raises(ApiError) as caught:
        client.get_file("file_missing")
    err = caught.value
    assert err.status == 404
    assert err.code == "resource.not_found"
    assert err.message == "The resource was not found."
    assert err.details == {"hint": "check the id"}
    assert err.request_id is not None and err.request_id == err.headers["X-Request-Id"]
    assert "resource.not_found" in str(err)
    assert sleeper.sleeps == []


def test_non_envelope_error_gets_http_status_code(client: Client, fake: FakeApi) -> None:
    fake.fail_next("GET", "/v1/files/file_x", 418, "I'm a teapot")
    with pytest.raises(ApiError) as caught:
        client.get_file("file_x")
    assert (caught.value.status, caught.value.code) == (418, "http.418")
    assert caught.value.message == "I'm a teapot"
    assert caught.value.details is None


def test_bad_api_key_is_an_api_error(fake: FakeApi) -> None:
    with Client("pdfj_wrong", fake.api_url) as c, pytest.raises(ApiError) as caught:
        c.list_jobs()
    assert (caught.value.status, caught.value.code) == (401, "auth.invalid_key")


# -- retries -----------------------------------------------------------------------------------------


def test_retries_429_sleeping_retry_after_seconds(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    job = fake.add_job()
    path = f"/v1/jobs/{job['id']}"
    fake.fail_next("GET", path, 429, headers={"Retry-After": "2"}, times=2)
    assert client.get_job(job["id"])["status"] == "succeeded"
    assert sleeper.sleeps == [2.0, 2.0]
    assert len(fake.recorded("GET", path)) == 3


def test_retry_after_is_capped_by_backoff_max(fake: FakeApi, sleeper: Sleeper) -> None:
    job = fake.add_job()
    fake.fail_next("GET", f"/v1/jobs/{job['id']}", 429, headers={"Retry-After": "120"})
    with Client(API_KEY, fake.api_url, backoff_max=7, sleep=sleeper) as c:
        c.get_job(job["id"])
    assert sleeper.sleeps == [7]


def test_retry_after_http_date(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    job = fake.add_job()
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    fake.fail_next("GET", f"/v1/jobs/{job['id']}", 503, headers={"Retry-After": when})
    client.get_job(job["id"])
    (slept,) = sleeper.sleeps
    assert 3.0 <= slept <= 5.0  # the date has one-second resolution


def test_retries_503_with_jittered_exponential_backoff(fake: FakeApi, sleeper: Sleeper) -> None:
    job = fake.add_job()
    fake.fail_next("GET", f"/v1/jobs/{job['id']}", 503, times=3)
    with Client(API_KEY, fake.api_url, max_retries=3, backoff_base=0.5, sleep=sleeper) as c:
        assert c.get_job(job["id"])["id"] == job["id"]
    assert len(sleeper.sleeps) == 3
    for attempt, slept in enumerate(sleeper.sleeps):
        assert 0 <= slept <= 0.5 * 2**attempt


@pytest.mark.parametrize("status", [500, 502, 504])
def test_retries_other_5xx(client: Client, fake: FakeApi, sleeper: Sleeper, status: int) -> None:
    job = fake.add_job()
    fake.fail_next("GET", f"/v1/jobs/{job['id']}", status)
    client.get_job(job["id"])
    assert len(sleeper.sleeps) == 1


def test_gives_up_after_max_retries(fake: FakeApi, sleeper: Sleeper) -> None:
    fake.fail_next("GET", "/v1/jobs/job_x", 503, times=10)
    with Client(API_KEY, fake.api_url, max_retries=2, sleep=sleeper) as c, pytest.raises(ApiError) as caught:
        c.get_job("job_x")
    assert caught.value.status == 503
    assert len(fake.recorded("GET", "/v1/jobs/job_x")) == 3
    assert len(sleeper.sleeps) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_never_retries_other_4xx(client: Client, fake: FakeApi, sleeper: Sleeper, status: int) -> None:
    fake.fail_next("POST", "/v1/jobs", status, headers={"Retry-After": "1"})
    with pytest.raises(ApiError) as caught:
        client.create_job("extract_text", ["file_1"])
    assert caught.value.status == status
    assert len(fake.recorded("POST", "/v1/jobs")) == 1
    assert sleeper.sleeps == []


def test_not_cancellable_is_raised_without_retry(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    job = fake.add_job("succeeded")
    with pytest.raises(ApiError) as caught:
        client.cancel_job(job["id"])
    assert (caught.value.status, caught.value.code) == (409, "job.not_cancellable")
    assert len(fake.recorded("POST", f"/v1/jobs/{job['id']}/cancel")) == 1
    assert sleeper.sleeps == []


def test_connection_errors_are_retried_then_raise_network_error(sleeper: Sleeper) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with Client(API_KEY, url, max_retries=2, sleep=sleeper) as c, pytest.raises(NetworkError) as caught:
        c.list_jobs()
    assert caught.value.method == "GET" and caught.value.url.startswith(url)
    assert len(sleeper.sleeps) == 2


def test_read_timeout_is_retried(fake: FakeApi, sleeper: Sleeper) -> None:
    job = fake.add_job()
    fake.delay_next("GET", f"/v1/jobs/{job['id']}", 1.0)
    with Client(API_KEY, fake.api_url, timeout=0.2, sleep=sleeper) as c:
        assert c.get_job(job["id"])["id"] == job["id"]
    assert len(sleeper.sleeps) == 1
    assert len(fake.recorded("GET", f"/v1/jobs/{job['id']}")) == 2


# -- idempotency -------------------------------------------------------------------------------------


def test_same_idempotency_key_on_every_retry_of_one_call(client: Client, fake: FakeApi) -> None:
    file = fake.add_file()
    fake.fail_next("POST", "/v1/jobs", 503, times=2)
    client.create_job("extract_text", [file["id"]])
    keys = [r.headers["idempotency-key"] for r in fake.recorded("POST", "/v1/jobs")]
    assert len(keys) == 3 and len(set(keys)) == 1


def test_different_calls_get_different_keys_and_explicit_keys_are_used(client: Client, fake: FakeApi) -> None:
    file = fake.add_file()
    client.extract_text(file["id"])
    client.extract_text(file["id"])
    client.create_job("extract_text", [file["id"]], idempotency_key="my-key-1")
    keys = [r.headers["idempotency-key"] for r in fake.recorded("POST", "/v1/jobs")]
    assert len(set(keys)) == 3
    assert keys[2] == "my-key-1"
    delete = client.delete_file(file["id"])
    assert delete == {"id": file["id"], "deleted": True}
    assert fake.recorded("DELETE", f"/v1/files/{file['id']}")[0].headers["idempotency-key"]


def test_a_lost_response_is_replayed_not_repeated(client: Client, fake: FakeApi) -> None:
    file = fake.add_file()
    # The server creates the job but the answer is lost (a 502 instead): the retry must replay it.
    fake.fail_next("POST", "/v1/jobs", 502, after_processing=True)
    job = client.extract_text([file["id"]])
    assert list(fake.jobs) == [job["id"]]
    response = client.request(
        "POST",
        "/jobs",
        json={"jobType": "extract_text", "inputFileIds": [file["id"]], "settings": {}},
        idempotency_key=fake.recorded("POST", "/v1/jobs")[0].headers["idempotency-key"],
    )
    assert response.replayed and response.status == 202 and response.body["id"] == job["id"]


def test_in_progress_after_our_own_lost_attempt_is_waited_for(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    file = fake.add_file()
    in_progress = {"error": {"code": "idempotency.in_progress", "message": "busy", "requestId": "r"}}
    fake.fail_next("POST", "/v1/jobs", 503)
    fake.fail_next("POST", "/v1/jobs", 409, in_progress, headers={"Retry-After": "1"})
    job = client.extract_text([file["id"]])
    assert job["status"] == "queued"
    assert len(fake.recorded("POST", "/v1/jobs")) == 3
    assert sleeper.sleeps[1] == 1.0


def test_in_progress_on_the_first_attempt_is_raised(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    in_progress = {"error": {"code": "idempotency.in_progress", "message": "busy", "requestId": "r"}}
    fake.fail_next("POST", "/v1/jobs", 409, in_progress)
    with pytest.raises(ApiError) as caught:
        client.create_job("extract_text", ["file_1"], idempotency_key="someone-elses")
    assert caught.value.code == "idempotency.in_progress"
    assert sleeper.sleeps == []


# -- uploads and files -------------------------------------------------------------------------------


def test_upload_presigned_post(client: Client, fake: FakeApi, pdf: Path) -> None:
    file = client.upload(pdf)
    assert file["id"].startswith("file_") and file["status"] == "ready"
    assert file["sizeBytes"] == len(PDF_BYTES)

    (create,) = fake.recorded("POST", "/v1/uploads")
    assert create.json() == {
        "filename": "report.pdf",
        "contentType": "application/pdf",
        "sizeBytes": len(PDF_BYTES),
    }
    (s3_post,) = fake.recorded("POST", server="s3")
    assert "authorization" not in s3_post.headers
    parts = s3_post.multipart()
    assert [name for name, _, _ in parts] == ["key", "Content-Type", "policy", "x-amz-signature", "file"]
    assert parts[-1][1:] == ("report.pdf", PDF_BYTES)
    (upload_id,) = fake.uploads
    (complete,) = fake.recorded("POST", f"/v1/uploads/{upload_id}/complete")
    assert complete.json() == {}
    order = [(r.server, r.method) for r in fake.requests]
    assert order == [("api", "POST"), ("s3", "POST"), ("api", "POST")]


def test_upload_presigned_put_with_retry_resends_the_whole_file(
    client: Client, fake: FakeApi, pdf: Path, sleeper: Sleeper
) -> None:
    fake.upload_method = "PUT"
    upload_key = "/bucket/uploads/upl_1"  # ids come from one counter: the upload is the first thing made
    fake.fail_next("PUT", upload_key, 503, "<Error><Code>SlowDown</Code></Error>")
    file = client.upload(pdf, "application/pdf")
    assert file["sizeBytes"] == len(PDF_BYTES)
    puts = fake.recorded("PUT", upload_key, server="s3")
    assert len(puts) == 2 and puts[1].body == PDF_BYTES
    assert puts[1].headers["content-type"] == "application/pdf"
    assert "authorization" not in puts[1].headers
    assert len(sleeper.sleeps) == 1


def test_storage_error_raises_api_error(client: Client, fake: FakeApi, pdf: Path) -> None:
    fake.fail_next("POST", "/bucket", 403, "<Error><Code>AccessDenied</Code></Error>")
    with pytest.raises(ApiError) as caught:
        client.upload(pdf)
    assert (caught.value.status, caught.value.code) == (403, "http.403")
    assert "AccessDenied" in caught.value.message
    assert fake.recorded("POST", path=None)[-1].path == "/v1/uploads"  # complete was never called


def test_upload_small_posts_multipart(client: Client, fake: FakeApi, pdf: Path) -> None:
    file = client.upload_small(pdf)
    (request,) = fake.recorded("POST", "/v1/files")
    (part,) = request.multipart()
    assert part == ("file", "report.pdf", PDF_BYTES)
    assert request.headers["idempotency-key"]
    assert client.get_file(file["id"]) == file


def test_download_file_follows_the_redirect_without_the_key(client: Client, fake: FakeApi, tmp_path: Path) -> None:
    file = fake.add_file(content=PDF_BYTES)
    dest = tmp_path / "copy.pdf"
    assert client.download_file(file["id"], dest) == len(PDF_BYTES)
    assert dest.read_bytes() == PDF_BYTES
    (get,) = fake.recorded("GET", f"/bucket/files/{file['id']}", server="s3")
    assert "authorization" not in get.headers
    assert list(tmp_path.iterdir()) == [dest]  # no temporary file left behind


def test_failed_download_leaves_no_file(client: Client, fake: FakeApi, tmp_path: Path) -> None:
    file = fake.add_file()
    fake.fail_next("GET", f"/bucket/files/{file['id']}", 404, "<Error><Code>NoSuchKey</Code></Error>")
    with pytest.raises(ApiError):
        client.download_file(file["id"], tmp_path / "x.pdf")
    assert list(tmp_path.iterdir()) == []


def test_detect_content_type(tmp_path: Path) -> None:
    sniffed = tmp_path / "scan.bin"
    sniffed.write_bytes(PDF_BYTES)
    assert detect_content_type(sniffed) == "application/pdf"
    by_name = tmp_path / "notes.txt"
    by_name.write_bytes(b"plain words")
    assert detect_content_type(by_name) == "text/plain"
    unknown = tmp_path / "blob"
    unknown.write_bytes(b"\x00\x01")
    assert detect_content_type(unknown) == "application/octet-stream"


# -- jobs --------------------------------------------------------------------------------------------


def test_extract_text_sends_camel_case_settings(client: Client, fake: FakeApi) -> None:
    file = fake.add_file()
    job = client.extract_text(file["id"], pages="1-3", include_layout=True, includePageCitations=True, password=None)
    assert job["jobType"] == "extract_text" and job["status"] == "queued"
    assert fake.recorded("POST", "/v1/jobs")[0].json() == {
        "jobType": "extract_text",
        "inputFileIds": [file["id"]],
        "settings": {"pages": "1-3", "includeLayout": True, "includePageCitations": True},
    }


def test_wait_polls_until_terminal_honouring_retry_after_ms(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    fake.retry_after_ms = 1500
    job = client.extract_text(fake.add_file()["id"])
    seen: list[tuple[str, int]] = []
    done = client.wait(job["id"], on_progress=lambda j: seen.append((j["status"], j["progress"])))
    assert done["status"] == "succeeded"
    assert seen == [("running", 40), ("running", 80), ("succeeded", 100)]
    assert sleeper.sleeps == [1.5, 1.5]


def test_wait_clamps_the_hint_and_accepts_a_fixed_interval(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    fake.retry_after_ms = 600_000
    client.wait(client.extract_text(fake.add_file()["id"])["id"])
    assert sleeper.sleeps == [5.0, 5.0]
    sleeper.sleeps.clear()
    client.wait(client.extract_text(fake.add_file()["id"])["id"], poll_interval=0.25)
    assert sleeper.sleeps == [0.25, 0.25]


def test_wait_returns_failed_jobs_too(client: Client, fake: FakeApi) -> None:
    job = client.extract_text(fake.add_file()["id"], password="wrong")
    done = client.wait(job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "pdf.password_incorrect"


def test_wait_raises_wait_timeout(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    fake.job_plan = [("queued", 0), ("running", 10)]  # never finishes
    fake.retry_after_ms = 1000
    job = client.extract_text(fake.add_file()["id"])
    with pytest.raises(WaitTimeout) as caught:
        client.wait(job["id"], timeout=3.5)
    assert caught.value.job_id == job["id"]
    assert caught.value.job["status"] == "running"
    assert sleeper.sleeps == [1.0, 1.0, 1.0, 0.5]  # never sleeps past the deadline
    assert len(fake.recorded("GET", f"/v1/jobs/{job['id']}")) == 5


def test_list_jobs_and_iterate_all_pages(client: Client, fake: FakeApi) -> None:
    ids = [fake.add_job()["id"] for _ in range(5)]
    page = client.list_jobs(limit=2, status="succeeded", job_type="extract_text")
    assert [j["id"] for j in page["items"]] == ids[:2] and page["nextCursor"] == "2"
    assert fake.recorded("GET", "/v1/jobs")[0].query == {
        "limit": ["2"],
        "status": ["succeeded"],
        "jobType": ["extract_text"],
    }
    assert [j["id"] for j in client.iter_jobs(page_size=2)] == ids
    assert len(fake.recorded("GET", "/v1/jobs")) == 4


def test_cancel_and_delete_job(client: Client, fake: FakeApi) -> None:
    job = client.extract_text(fake.add_file()["id"])
    assert client.cancel_job(job["id"])["status"] == "cancelled"
    assert client.delete_job(job["id"]) == {"id": job["id"], "deleted": True}
    with pytest.raises(ApiError) as caught:
        client.get_job(job["id"])
    assert caught.value.status == 404


def test_result_not_ready_then_inline_data_and_outputs(client: Client, fake: FakeApi, tmp_path: Path) -> None:
    job = client.extract_text(fake.add_file()["id"])
    with pytest.raises(ApiError) as caught:
        client.get_result(job["id"])
    assert (caught.value.status, caught.value.code) == (409, "result.not_ready")
    client.wait(job["id"])
    result = client.get_result(job["id"])
    assert result["data"] == EXTRACT_DATA
    assert client.load_result_data(result) == EXTRACT_DATA
    txt = find_output(result, "result.txt")
    assert txt is not None
    dest = tmp_path / "out.txt"
    assert client.download_output(txt, dest) == len(RESULT_TXT)
    assert dest.read_bytes() == RESULT_TXT
    buffer = io.BytesIO()
    client.download_output(txt["url"], buffer)
    assert buffer.getvalue() == RESULT_TXT
    assert all("authorization" not in r.headers for r in fake.recorded(server="s3"))


def test_load_result_data_downloads_result_json_when_not_inline(client: Client, fake: FakeApi) -> None:
    fake.inline_result = False
    job = fake.add_job("succeeded")
    result = client.get_result(job["id"])
    assert result["data"] is None
    assert client.load_result_data(result) == EXTRACT_DATA


def test_failed_job_result_is_an_error(client: Client, fake: FakeApi) -> None:
    job = fake.add_job("failed")
    with pytest.raises(ApiError) as caught:
        client.get_result(job["id"])
    assert caught.value.code == "job.failed"


# -- keys and health ---------------------------------------------------------------------------------


def test_api_keys_create_list_revoke(client: Client, fake: FakeApi) -> None:
    created = client.create_api_key("ci", scopes=["jobs:write"], tenant_id="ten_9")
    assert created["key"].startswith("pdfj_") and created["scopes"] == ["jobs:write"]
    assert fake.recorded("POST", "/v1/api-keys")[0].json() == {
        "name": "ci",
        "scopes": ["jobs:write"],
        "tenantId": "ten_9",
    }
    assert {k["id"] for k in client.list_api_keys()} == {"key_root", created["id"]}
    revoked = client.revoke_api_key(created["id"])
    assert revoked["revoked"] is True and revoked["id"] == created["id"]
    with Client(created["key"], fake.api_url) as revoked_client, pytest.raises(ApiError) as caught:
        revoked_client.list_api_keys()
    assert caught.value.status == 401


def test_health_ok_and_unhealthy(client: Client, fake: FakeApi, sleeper: Sleeper) -> None:
    assert client.health() == {"status": "ok", "checks": {"table": "ok", "bucket": "ok"}}
    fake.healthy = False
    with pytest.raises(ApiError) as caught:
        client.health()
    assert caught.value.status == 503 and caught.value.code == "http.503"
    assert caught.value.body["checks"] == {"table": "down"}
    assert sleeper.sleeps == []  # one attempt only


def test_request_escape_hatch_returns_status_and_headers(client: Client, fake: FakeApi) -> None:
    response = client.request("GET", "/health")
    assert response.status == 200 and response.request_id and not response.replayed
    assert response.raw is not None and json.loads(response.raw.content) == response.body
