"""Every hostile corpus file ends as a clean failure or a success: never a crash, hang or blow-up."""

from __future__ import annotations

import pytest
import requests

from pdfjobs.errors import all_error_classes
from tests.corpus import CORPUS
from tests.e2e.conftest import Api, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE = sorted(path for path in (CORPUS / "hostile").iterdir() if path.is_file())
KNOWN_CODES = {cls.code for cls in all_error_classes()}


@pytest.mark.parametrize(
    ("job_type", "settings"),
    [("extract_text", {"includeLayout": True}), ("searchable_pdf", {"mode": "force"})],
    ids=["extract_text", "searchable_pdf"],
)
@pytest.mark.parametrize("path", HOSTILE, ids=[p.name for p in HOSTILE])
def test_hostile_file_ends_cleanly(  # type: ignore[no-untyped-def]
    stack: Stack, tenant_a: Api, path, job_type: str, settings: dict
) -> None:
    uploaded = tenant_a.post("/files", files={"file": (path.name, path.read_bytes(), "application/pdf")})
    if uploaded.status_code != 201:
        assert uploaded.status_code in (400, 413, 415), uploaded.text
        assert uploaded.json()["error"]["code"] in KNOWN_CODES
        return
    job = tenant_a.submit(job_type, [uploaded.json()["id"]], settings)
    done, _ = tenant_a.wait(job["id"], timeout=240)
    assert done["status"] in ("succeeded", "failed"), done
    if done["status"] == "failed":
        assert done["error"]["code"] in KNOWN_CODES - {"internal"}, done["error"]
    else:
        assert tenant_a.get(f"/jobs/{job['id']}/result").status_code == 200
    assert requests.get(stack.url("/health"), timeout=10).status_code == 200  # the runtime survived
