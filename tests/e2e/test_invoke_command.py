"""`python -m pdfjobs.local invoke` runs one function with an events/ file, as `sam local invoke -e` does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.corpus import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _invoke(function: str, event: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pdfjobs.local", "invoke", function, "--event", event],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_api_function_answers_the_sample_health_event() -> None:
    result = _invoke("ApiFunction", "events/api/health.json")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "ok"


def test_sample_job_event_reaches_auth_and_fails_cleanly() -> None:
    result = _invoke("ApiFunction", "events/api/create-job.json")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    # The sample carries a placeholder key: a clean 401 in the envelope, not a crash.
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "auth.invalid_key"


def test_pipeline_function_error_is_reported_like_lambda() -> None:
    result = _invoke("PrepareFunction", "events/pipeline/prepare.json")
    assert result.returncode == 1  # no such job in a fresh stack: the handler raises
    assert "JobStateConflict" in result.stdout + result.stderr
