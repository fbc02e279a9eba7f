import json

from pdfjobs import errors
from pdfjobs.pipeline.steps import error_info_from_states_error


def _lambda_error(name: str, message: str) -> dict[str, str]:
    return {
        "Error": name,
        "Cause": json.dumps({"errorMessage": message, "errorType": name, "stackTrace": ["x"]}),
    }


def test_domain_error_keeps_its_code_and_message() -> None:
    info = error_info_from_states_error(_lambda_error("PdfPasswordIncorrect", "The password does not open the PDF."))
    assert (info.code, info.message) == ("pdf.password_incorrect", "The password does not open the PDF.")


def test_task_timeouts_become_job_timeout() -> None:
    assert error_info_from_states_error({"Error": "States.Timeout", "Cause": ""}).code == "job.timeout"
    assert error_info_from_states_error({"Error": "Sandbox.Timedout", "Cause": "x"}).code == "job.timeout"


def test_unknown_errors_hide_their_internals() -> None:
    info = error_info_from_states_error(
        _lambda_error("KeyError", "'PK' at /var/task/pdfjobs/repositories/jobs.py line 12")
    )
    assert info.code == "internal"
    assert "repositories" not in info.message and "KeyError" not in info.message


def test_a_builtin_named_like_nothing_we_define_is_not_trusted() -> None:
    assert errors.error_class_by_name("Exception") is None
    assert errors.error_class_by_name("PdfJobsError") is errors.PdfJobsError
    assert error_info_from_states_error({"Error": "PdfInvalid", "Cause": "not json"}).code == "pdf.invalid"
