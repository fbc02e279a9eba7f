"""Cancel, delete, listing with cursors and filters, and idempotent mutations."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest
import requests
from pypdf import PdfReader, PdfWriter

from tests.corpus import corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 text pages: long enough that a cancel lands while the job runs."""
    page = PdfReader(corpus_file("text/crazyones.pdf")).pages[0]
    writer = PdfWriter()
    for _ in range(600):
        writer.add_page(page)
    path = tmp_path_factory.mktemp("long") / "long.pdf"
    with path.open("wb") as out:
        writer.write(out)
    return path


def test_cancel_stops_a_running_job_and_it_stays_cancelled(tenant_a: Api, long_pdf: Path) -> None:
    file = tenant_a.upload(long_pdf)
    assert file["pageCount"] == 600
    job = tenant_a.submit("extract_text", [file["id"]])
    cancelled = tenant_a.post(f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    final, _ = tenant_a.wait(job["id"], timeout=30)
    assert final["status"] == "cancelled"
    if tenant_a.stack.aws_endpoint:  # look behind the API: the execution itself was stopped
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=tenant_a.stack.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
        execution = machine.replace(":stateMachine:", ":execution:") + ":" + job["id"]
        assert sfn.describe_execution(executionArn=execution)["status"] != "RUNNING"
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        entered = {e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e}
        # Stopped, not failed through: neither the Catch target nor the later stages ever ran.
        assert "Prepare" in entered and not entered & {"MarkFailed", "Assemble", "Verify", "Finalize"}, entered
    again = tenant_a.post(f"/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job.not_cancellable"
    result = tenant_a.get(f"/jobs/{job['id']}/result")
    assert result.status_code == 409 and result.json()["error"]["code"] == "job.cancelled"


def test_a_finished_job_cannot_be_cancelled(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    done, _ = tenant_a.wait(tenant_a.submit("extract_text", [file["id"]])["id"])
    response = tenant_a.post(f"/jobs/{done['id']}/cancel")
    assert response.status_code == 409 and response.json()["error"]["code"] == "job.not_cancellable"


def test_delete_purges_results_and_owned_inputs(tenant_a: Api) -> None:
    kept = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    owned = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    plain, _ = tenant_a.wait(tenant_a.submit("extract_text", [kept["id"]])["id"])
    owning, _ = tenant_a.wait(tenant_a.submit("extract_text", [owned["id"]], deleteInputsWithJob=True)["id"])
    urls = [o["url"] for o in tenant_a.get(f"/jobs/{plain['id']}/result").json()["outputs"]]
    assert [requests.get(url, timeout=10).status_code for url in urls] == [200] * len(urls)
    for job in (plain, owning):
        assert tenant_a.delete(f"/jobs/{job['id']}").json() == {"id": job["id"], "deleted": True}
        assert tenant_a.get(f"/jobs/{job['id']}").json()["status"] == "deleted"
        gone = tenant_a.get(f"/jobs/{job['id']}/result")
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "result.expired"
    # Purged from S3 (which answers 403 rather than 404 for a missing key without ListBucket).
    assert all(requests.get(url, timeout=10).status_code in (403, 404) for url in urls)
    assert tenant_a.get(f"/files/{kept['id']}").status_code == 200  # not owned: kept
    assert tenant_a.get(f"/files/{owned['id']}").status_code == 404  # owned: deleted with the job
    assert tenant_a.delete(f"/jobs/{plain['id']}").status_code == 200  # deleting twice is fine


def test_listing_is_newest_first_with_cursor_and_filters(admin: Api) -> None:
    api = Api(
        admin.stack,
        admin.post("/api-keys", json={"name": "lister", "tenantId": f"list-{uuid.uuid4().hex[:8]}"}).json()["key"],
    )
    file = api.upload(corpus_file("text/crazyones.pdf"))
    bad = api.upload(corpus_file("encrypted/r6-user-password.pdf"))
    ids = [api.submit("extract_text", [file["id"]])["id"] for _ in range(4)]
    failing = api.submit("extract_text", [bad["id"]])["id"]
    for job_id in [*ids, failing]:
        api.wait(job_id)
    everything = [failing, *reversed(ids)]

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/jobs", params=params).json()
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == everything

    failed = api.get("/jobs", params={"status": "failed"}).json()["items"]
    assert [job["id"] for job in failed] == [failing]
    succeeded = api.get("/jobs", params={"status": "succeeded", "jobType": "extract_text", "limit": 3}).json()
    assert [job["id"] for job in succeeded["items"]] == list(reversed(ids))[:3] and succeeded["nextCursor"]
    by_type = api.get("/jobs", params={"jobType": "extract_text"}).json()["items"]
    assert len(by_type) == 5
    assert api.get("/jobs", params={"limit": 0}).status_code == 400
    assert api.get("/jobs", params={"status": "bogus"}).status_code == 400
    assert api.get("/jobs", params={"cursor": "not-a-cursor"}).status_code == 400


def test_idempotent_job_creation_replays_and_guards_the_payload(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    key = f"e2e-{uuid.uuid4()}"
    body = {"jobType": "extract_text", "inputFileIds": [file["id"]], "settings": {"includeLayout": True}}
    first = tenant_a.post("/jobs", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    replay = tenant_a.post("/jobs", json=body, headers={"X-Idempotency-Key": key})
    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    jobs_with_file = [
        job
        for job in tenant_a.get("/jobs", params={"limit": 100}).json()["items"]
        if job["inputFileIds"] == [file["id"]]
    ]
    assert len(jobs_with_file) == 1  # no duplicate work
    changed = tenant_a.post("/jobs", json={**body, "settings": {}}, headers={"Idempotency-Key": key})
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency.payload_mismatch"
    tenant_a.wait(first.json()["id"])


def test_idempotency_keys_are_scoped_per_tenant(tenant_a: Api, tenant_b: Api) -> None:
    key = f"shared-{uuid.uuid4()}"
    a = tenant_a.post("/api-keys", json={"name": "same"}, headers={"Idempotency-Key": key})
    b = tenant_b.post("/api-keys", json={"name": "same"}, headers={"Idempotency-Key": key})
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b.headers and a.json()["id"] != b.json()["id"]
