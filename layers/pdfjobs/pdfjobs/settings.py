"""One settings model, read from the environment once per cold start and validated."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the deployed functions. Environment names are PDFJOBS_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="PDFJOBS_", extra="ignore")

    # Resources (set by template.yaml; the local runtime sets the same names).
    table_name: str = "pdfjobs-local-jobs"
    idempotency_table_name: str = "pdfjobs-local-idempotency"
    bucket_name: str = "pdfjobs-local-files"
    webhook_queue_url: str = ""
    state_machine_arn: str = ""

    # The operator key is known only by its sha256; the key itself is never stored.
    admin_key_sha256: str = ""
    admin_tenant_id: str = "default"

    # Where clients reach S3 for presigned URLs (the emulator's public address locally).
    public_s3_endpoint: str | None = None

    # Limits
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    # Lambda caps a synchronous request at 6 MB, and API Gateway base64-encodes binary bodies.
    max_direct_upload_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_pages: int = Field(default=2000, gt=0)
    max_documents_per_job: int = Field(default=20, gt=0)
    page_batch_size: int = Field(default=50, gt=0)
    engine_timeout_seconds: float = Field(default=120.0, gt=0)
    engine_memory_mb: int = Field(default=2048, gt=0)
    # Page batches of one job processed at once (the state machine's Map MaxConcurrency); 0 = CPU count.
    page_concurrency: int = Field(default=0, ge=0)

    # OCR
    ocr_default_dpi: int = Field(default=300, ge=50, le=1200)
    # A page rendered for OCR never exceeds this many pixels: its resolution is lowered to fit.
    ocr_max_page_pixels: int = Field(default=80_000_000, gt=0)
    # Image inputs: any frame declaring more pixels than this is refused before decoding.
    max_image_pixels: int = Field(default=200_000_000, gt=0)
    ocr_page_timeout_seconds: float = Field(default=180.0, gt=0)
    # Textract is called only where it exists (AWS); the local runtime reports it unavailable.
    textract_enabled: bool = False

    # Outbound fetches (HTML resources, webhooks): CIDRs opened on purpose, e.g. "10.1.0.0/16".
    outbound_allowed_networks: str = ""
    html_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    html_resource_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    html_resources_total_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    html_resource_max_count: int = Field(default=200, gt=0)
    html_resource_timeout_seconds: float = Field(default=10.0, gt=0)
    html_render_timeout_seconds: float = Field(default=120.0, gt=0)

    # Time
    retention_hours: int = Field(default=24, gt=0)
    upload_url_ttl_seconds: int = Field(default=900, gt=0)
    download_url_ttl_seconds: int = Field(default=900, gt=0)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    poll_retry_after_ms: int = Field(default=2000, ge=0)
    # An active job untouched this long is checked against its execution when read.
    job_stale_after_seconds: int = Field(default=900, gt=0)

    # Results at most this large are returned inline in GET /jobs/{id}/result `data`.
    inline_result_max_bytes: int = Field(default=256 * 1024, gt=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
