import pytest
from pydantic import ValidationError

from pdfjobs.settings import Settings


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFJOBS_MAX_PAGES", "10")
    monkeypatch.setenv("PDFJOBS_TABLE_NAME", "jobs-x")
    settings = Settings()
    assert settings.max_pages == 10
    assert settings.table_name == "jobs-x"


def test_documented_defaults() -> None:
    settings = Settings()
    assert settings.max_upload_bytes == 100 * 1024 * 1024
    assert settings.max_pages == 2000
    assert settings.idempotency_ttl_seconds == 24 * 3600
    # Lambda's 6 MB request cap minus base64 overhead.
    assert settings.max_direct_upload_bytes * 4 / 3 < 6 * 1024 * 1024


def test_invalid_limits_are_refused_at_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFJOBS_MAX_PAGES", "0")
    with pytest.raises(ValidationError):
        Settings()
