"""The `pdfjobs` CLI end to end against the loopback fake API (fake_api_server)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pdfjobs import cli
from pdfjobs.client import Client

try:  # tests/unit is on sys.path when it is not a package (pytest's default "prepend" import mode)
    from fake_api_server import API_KEY, EXTRACT_DATA, RESULT_MD, RESULT_TXT, FakeApi
except ImportError:  # pragma: no cover - when tests/unit becomes a package
    from .fake_api_server import API_KEY, EXTRACT_DATA, RESULT_MD, RESULT_TXT, FakeApi

PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PDFJOBS_API_KEY", raising=False)
    monkeypatch.delenv("PDFJOBS_API_URL", raising=False)


@pytest.fixture(autouse=True)
def _fast_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real time still passes (so --timeout works), but polls and backoffs take at most 5 ms.
    def client(*args: Any, **kwargs: Any) -> Client:
        return Client(*args, sleep=lambda s: time.sleep(min(s, 0.005)), **kwargs)

    monkeypatch.setattr(cli, "Client", client)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with FakeApi() as server:
        monkeypatch.setenv("PDFJOBS_API_URL", server.api_url)
        monkeypatch.setenv("PDFJOBS_API_KEY", API_KEY)
        yield server


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF_BYTES)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- extract-text ------------------------------------------------------------------------------------


def test_extract_text_writes_the_json_result(
    fake: FakeApi, pdf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "out.json"
    code, out, err = _run(
        capsys, "extract-text", str(pdf), "-o", str(out_file), "--pages", "1-3", "--layout", "--citations"
    )
    assert code == 0, err
    assert json.loads(out_file.read_text()) == EXTRACT_DATA
    assert out == ""
    (job_id,) = fake.jobs
    assert f"submitted job {job_id}" in err and "100%" in err  # the progress bar reached the end
    assert fake.recorded("POST", "/v1/jobs")[0].json()["settings"] == {
        "pages": "1-3",
        "includeLayout": True,
        "includePageCitations": True,
    }
    assert len(fake.recorded("POST", server="s3")) == 1  # went through the presigned upload


def test_extract_text_json_downloads_result_json_when_not_inline(
    fake: FakeApi, pdf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.inline_result = False
    out_file = tmp_path / "out.json"
    code, _, err = _run(capsys, "extract-text", str(pdf), "-o", str(out_file), "-q")
    assert code == 0, err
    assert json.loads(out_file.read_bytes()) == EXTRACT_DATA
    assert err == ""  # --quiet: no bar, no messages


@pytest.mark.parametrize(("fmt", "expected"), [("txt", RESULT_TXT), ("md", RESULT_MD)])
def test_extract_text_other_formats_to_stdout(
    fake: FakeApi, pdf: Path, capsys: pytest.CaptureFixture[str], fmt: str, expected: bytes
) -> None:
    code, out, err = _run(capsys, "extract-text", str(pdf), "--format", fmt, "-o", "-", "--password", "pw")
    assert code == 0, err
    assert out == expected.decode()
    assert fake.recorded("POST", "/v1/jobs")[0].json()["settings"] == {"password": "pw"}


def test_extract_text_failed_job_exits_1(
    fake: FakeApi, pdf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "out.json"
    code, _, err = _run(capsys, "extract-text", str(pdf), "-o", str(out_file), "--password", "wrong")
    assert code == 1
    assert "failed: pdf.password_incorrect: The password does not open the PDF." in err
    assert not out_file.exists()


def test_extract_text_timeout_exits_1(fake: FakeApi, pdf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake.job_plan = [("queued", 0), ("running", 10)]  # never finishes
    code, _, err = _run(capsys, "extract-text", str(pdf), "--timeout", "0.2", "-q")
    assert code == 1
    assert "did not finish within 0.2s (last status running)" in err


def test_bad_api_key_exits_3(fake: FakeApi, pdf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--api-key", "pdfj_wrong", "extract-text", str(pdf))
    assert code == 3
    assert "auth.invalid_key" in err and "HTTP 401" in err
    assert fake.recorded("POST", "/v1/jobs") == []


def test_unreachable_api_exits_3(pdf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = _run(capsys, "--api-url", f"http://127.0.0.1:{port}/v1", "--api-key", API_KEY, "jobs", "list")
    assert code == 3
    assert "cannot reach the API" in err


def test_missing_input_file_is_a_usage_error(fake: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "extract-text", str(tmp_path / "nope.pdf"))
    assert code == 2 and "no such file" in err
    assert fake.requests == []


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["extract-text"],
        ["extract-text", "x.pdf", "--format", "docx"],
        ["jobs"],
        ["bogus"],
        ["jobs", "list", "--limit", "0"],
    ],
)
def test_usage_errors_exit_2(fake: FakeApi, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert "usage:" in err


def test_missing_api_key_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "jobs", "list")
    assert code == 2 and "no API key" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "extract-text" in out


# -- other commands ----------------------------------------------------------------------------------


def test_jobs_commands(fake: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    done = fake.add_job("succeeded")
    running = fake.add_job("running")

    code, out, _ = _run(capsys, "jobs", "get", done["id"])
    assert code == 0 and json.loads(out)["id"] == done["id"]

    code, out, _ = _run(capsys, "jobs", "list", "--limit", "1")
    assert code == 0 and json.loads(out)["nextCursor"] == "1"
    code, out, _ = _run(capsys, "jobs", "list", "--limit", "1", "--all")
    assert [j["id"] for j in json.loads(out)["items"]] == [done["id"], running["id"]]

    code, out, _ = _run(capsys, "jobs", "result", done["id"])
    assert code == 0 and json.loads(out)["data"] == EXTRACT_DATA
    code, out, _ = _run(capsys, "jobs", "result", done["id"], "--output-name", "result.txt")
    assert code == 0 and out == RESULT_TXT.decode()

    code, out, _ = _run(capsys, "jobs", "cancel", running["id"])
    assert code == 0 and json.loads(out)["status"] == "cancelled"
    code, _, err = _run(capsys, "jobs", "cancel", done["id"])
    assert code == 3 and "job.not_cancellable" in err

    code, out, _ = _run(capsys, "jobs", "delete", done["id"])
    assert code == 0 and json.loads(out) == {"id": done["id"], "deleted": True}
    code, _, err = _run(capsys, "jobs", "get", done["id"])
    assert code == 3 and "resource.not_found" in err


def test_files_commands(fake: FakeApi, pdf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "files", "upload", str(pdf))
    file = json.loads(out)
    assert code == 0 and file["filename"] == "report.pdf"
    code, out, _ = _run(capsys, "files", "upload", str(pdf), "--small")
    assert code == 0 and fake.recorded("POST", "/v1/files")

    code, out, _ = _run(capsys, "files", "get", file["id"])
    assert code == 0 and json.loads(out) == file
    dest = tmp_path / "copy.pdf"
    code, _, _ = _run(capsys, "files", "download", file["id"], "-o", str(dest))
    assert code == 0 and dest.read_bytes() == PDF_BYTES
    code, out, _ = _run(capsys, "files", "delete", file["id"])
    assert code == 0 and json.loads(out)["deleted"] is True


def test_keys_commands_with_global_options_after_the_command(fake: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "keys", "create", "ci", "--scope", "jobs:read", "--scope", "jobs:write", "--api-key", API_KEY
    )
    created = json.loads(out)
    assert code == 0 and created["key"].startswith("pdfj_") and created["scopes"] == ["jobs:read", "jobs:write"]
    code, out, _ = _run(capsys, "keys", "list")
    assert code == 0 and created["id"] in {k["id"] for k in json.loads(out)["items"]}
    code, out, _ = _run(capsys, "keys", "revoke", created["id"])
    assert code == 0 and json.loads(out)["revoked"] is True


def test_health(fake: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PDFJOBS_API_KEY")  # health needs no key
    code, out, _ = _run(capsys, "health")
    assert code == 0 and json.loads(out)["status"] == "ok"
    fake.healthy = False
    code, out, _ = _run(capsys, "health")
    assert code == 3 and json.loads(out)["status"] == "degraded"
