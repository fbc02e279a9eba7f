import hashlib

import pytest

from pdfjobs.services.auth import KEY_PREFIX, generate_key, hash_key, key_from_headers


def test_generated_keys_carry_the_prefix_and_256_random_bits() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) - len(KEY_PREFIX) >= 43  # 32 bytes in URL-safe base64


def test_hash_is_sha256_hex_of_the_key() -> None:
    assert hash_key("pdfj_abc") == hashlib.sha256(b"pdfj_abc").hexdigest()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer pdfj_secret"},
        {"authorization": "bearer pdfj_secret"},
        {"Authorization": "api-key pdfj_secret"},
        {"Authorization": "Api-Key  pdfj_secret "},
        {"X-API-Key": "pdfj_secret"},
        {"x-api-key": " pdfj_secret"},
    ],
)
def test_every_documented_header_form_yields_the_key(headers: dict[str, str]) -> None:
    assert key_from_headers(headers) == "pdfj_secret"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": " "},
    ],
)
def test_missing_or_foreign_credentials_yield_nothing(headers: dict[str, str]) -> None:
    assert key_from_headers(headers) is None
