"""The emulated AWS: moto's server (for every SDK client, over HTTP) and moto's in-process mock,
active at the same time so they share one backend and Step Functions executions really run."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

from pdfjobs.local.resources import ACCOUNT_ID, REGION

log = logging.getLogger(__name__)


@contextlib.contextmanager
def moto_server(host: str, port: int) -> Iterator[str]:
    """moto's ThreadedMotoServer on host:port (0 picks one); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{host}:{server.get_host_and_port()[1]}"
    finally:
        server.stop()


@contextlib.contextmanager
def executing_mock() -> Iterator[None]:
    """mock_aws with state machine execution on. While it is active, moto's ASL interpreter builds
    its Lambda client with no endpoint, so botocore uses AWS_ENDPOINT_URL_LAMBDA."""
    from moto import mock_aws
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_start_execution = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        # moto 5.2.5 names an unnamed execution "None", so a second one fails with
        # ExecutionAlreadyExists; AWS generates a UUID, and so do we.
        return original_start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    aws = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    with mock.patch.object(StepFunctionsParserBackend, "start_execution", start_execution):
        aws.start()
        try:
            yield
        finally:
            aws.stop()


def stop_running_executions() -> None:
    """Abort executions still running, so none calls a Lambda endpoint that is going away."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
    for state_machine in list(backend.state_machines):
        for execution in list(state_machine.executions):
            # The parser's executions keep their status in exec_status (None until started).
            if getattr(execution, "exec_status", None) != ExecutionStatus.RUNNING:
                continue
            log.info("aborting execution %s at shutdown", execution.execution_arn)
            try:
                backend.stop_execution(execution.execution_arn)
            except Exception:  # best effort: shutdown goes on regardless
                log.exception("could not abort %s", execution.execution_arn)
