"""Every read and write is scoped by tenant: another tenant's ids answer exactly like missing ones."""

from __future__ import annotations

import pytest

from tests.corpus import corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


def test_another_tenants_ids_are_404(tenant_a: Api, tenant_b: Api) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    job = tenant_a.submit("extract_text", [file["id"]])
    tenant_a.wait(job["id"])
    missing_job = tenant_b.get("/jobs/job_01M8194FNW6FHZY8FTEAYKPFH6")
    for path in (
        f"/jobs/{job['id']}",
        f"/jobs/{job['id']}/result",
        f"/files/{file['id']}",
        f"/files/{file['id']}/content",
    ):
        response = tenant_b.get(path, allow_redirects=False)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == missing_job.json()["error"]["code"] == "resource.not_found"
    assert tenant_b.post(f"/jobs/{job['id']}/cancel").status_code == 404
    assert tenant_b.delete(f"/jobs/{job['id']}").status_code == 404
    assert tenant_b.delete(f"/files/{file['id']}").status_code == 404
    borrowed = tenant_b.post("/jobs", json={"jobType": "extract_text", "inputFileIds": [file["id"]]})
    assert borrowed.status_code == 404
    assert job["id"] not in {j["id"] for j in tenant_b.get("/jobs", params={"limit": 100}).json()["items"]}
    # and A still sees everything
    assert tenant_a.get(f"/jobs/{job['id']}").json()["status"] == "succeeded"
