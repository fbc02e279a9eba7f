"""The Lambda Invoke API (what `sam local start-lambda` serves), for the SDK and Step Functions tasks:
POST /2015-03-31/functions/{FunctionName}/invocations."""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from pdfjobs.local.lambda_functions import (
    MAX_PAYLOAD_BYTES,
    FunctionRegistry,
    InvalidRequestContent,
    LocalFunction,
    RequestTooLarge,
)
from pdfjobs.local.resources import ACCOUNT_ID, REGION

_TOO_LARGE = f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")

log = logging.getLogger(__name__)


class AsyncInvocations:
    """Event (asynchronous) invocations, each on its own thread, joined (bounded) at shutdown."""

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def submit(self, function: LocalFunction, payload: bytes, request_id: str) -> None:
        def run() -> None:
            try:
                result = function.invoke(payload, request_id)
                if result.function_error:
                    log.error("async invocation of %s failed: %s", function.spec.logical_id, result.payload)
            except Exception:
                log.exception("async invocation of %s failed", function.spec.logical_id)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"async-{function.spec.logical_id}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def join(self, timeout: float) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout)
            if thread.is_alive():
                log.warning("%s still running at shutdown; abandoned", thread.name)


def _service_error(status: int, error_type: str, message: str, request_id: str) -> Response:
    # Lambda's REST-JSON error shape: botocore reads the code from x-amzn-ErrorType.
    body = json.dumps({"Type": "User", "message": message})
    headers = {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": request_id}
    return Response(body, status=status, headers=headers, content_type="application/json")


class LambdaInvokeApp:
    """WSGI app answering the Invoke API from the in-process functions."""

    def __init__(self, functions: FunctionRegistry, async_invocations: AsyncInvocations) -> None:
        self._functions = functions
        self._async = async_invocations

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._respond(Request(environ))(environ, start_response)

    def _respond(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        match = _INVOKE_PATH.match(request.path)
        if match is None or request.method != "POST":
            return _service_error(404, "UnknownOperationException", "Unknown operation", request_id)
        name = match.group("name")
        function = self._functions.find(name)
        if function is None:
            arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            return _service_error(404, "ResourceNotFoundException", f"Function not found: {arn}", request_id)
        payload = request.stream.read(MAX_PAYLOAD_BYTES + 1)
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
        if invocation_type == "DryRun":
            return Response(status=204, headers=headers)
        if invocation_type == "Event":
            if len(payload) > MAX_PAYLOAD_BYTES:
                return _service_error(413, "RequestEntityTooLargeException", _TOO_LARGE, request_id)
            self._async.submit(function, payload, request_id)
            return Response(status=202, headers=headers)
        try:
            result = function.invoke(payload, request_id)
        except RequestTooLarge:
            return _service_error(413, "RequestEntityTooLargeException", _TOO_LARGE, request_id)
        except InvalidRequestContent as error:
            return _service_error(400, "InvalidRequestContentException", str(error), request_id)
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        return Response(result.payload, status=200, headers=headers, content_type="application/json")
