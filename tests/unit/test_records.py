from datetime import UTC, datetime

import pytest

from pdfjobs.records import DocumentState, JobRecord, JobStatus

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _job(status: JobStatus, done: int, total: int) -> JobRecord:
    return JobRecord(
        id="job_x",
        tenant_id="t",
        job_type="extract_text",
        status=status,
        input_file_ids=["file_x"],
        documents=[DocumentState(index=0, file_id="file_x")],
        pages_done=done,
        pages_total=total,
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW,
    )


def test_progress_never_goes_backwards_through_a_job_lifecycle() -> None:
    steps = [
        _job(JobStatus.QUEUED, 0, 0),
        _job(JobStatus.RUNNING, 0, 0),
        _job(JobStatus.RUNNING, 0, 10),
        _job(JobStatus.RUNNING, 5, 10),
        _job(JobStatus.RUNNING, 10, 10),
        _job(JobStatus.RUNNING, 12, 10),  # a retried batch counted twice stays capped
        _job(JobStatus.SUCCEEDED, 12, 10),
    ]
    progress = [job.progress for job in steps]
    assert progress == sorted(progress)
    assert progress[0] == 0 and progress[-1] == 100
    assert all(0 <= p <= 100 for p in progress)
    assert progress[-2] < 100  # only success says 100


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED])
def test_terminal_statuses(status: JobStatus) -> None:
    assert status.is_terminal


def test_active_statuses_are_not_terminal() -> None:
    assert not JobStatus.QUEUED.is_terminal and not JobStatus.RUNNING.is_terminal
