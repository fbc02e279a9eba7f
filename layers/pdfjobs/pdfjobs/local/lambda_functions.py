"""The template's functions, run in this process the way the Lambda Python runtime runs them:
handler loaded once per function (lazily), a real-shaped context, and AWS's error and size rules."""

from __future__ import annotations

import importlib.util
import json
import logging
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pdfjobs.local.resources import ACCOUNT_ID, LAYER_TYPE, REGION, Stack
from pdfjobs.local.template import FUNCTION_TYPE, TemplateError

# Lambda's synchronous invocation limit, for the request and the response alike.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# SAM's defaults when neither the function nor Globals say.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128

log = logging.getLogger(__name__)
Handler = Callable[[Any, Any], Any]


class InvalidRequestContent(Exception):
    """The invocation payload is not JSON (Lambda's InvalidRequestContentException)."""


class RequestTooLarge(Exception):
    """The invocation payload is over 6 MB (Lambda's RequestEntityTooLargeException)."""


class FunctionInvocationError(Exception):
    """The function failed (X-Amz-Function-Error); `payload` is the error document Lambda returns."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function as the template (Globals applied, intrinsics resolved) defines it."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]
    # Raw (unresolved) Events: consumers need the logical ids behind !Ref / !GetAtt.
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def handler_module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]


def _environment_value(value: Any) -> str:
    # Lambda environment values are strings; CloudFormation writes YAML booleans as true/false.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def function_specs(stack: Stack) -> list[FunctionSpec]:
    specs = []
    for logical_id in stack.logical_ids(FUNCTION_TYPE):
        properties = stack.properties(
            logical_id, only=("CodeUri", "Handler", "Timeout", "MemorySize", "Environment", "PackageType")
        )
        if properties.get("PackageType", "Zip") != "Zip" or not isinstance(properties.get("CodeUri"), str):
            raise TemplateError(f"{logical_id}: only Zip functions with a local CodeUri run locally")
        if "." not in str(properties.get("Handler", "")):
            raise TemplateError(f"{logical_id}: Handler must look like module.function")
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                name=stack.physical_name(logical_id),
                arn=stack.arn(logical_id),
                code_dir=(stack.template.directory / properties["CodeUri"]).resolve(),
                handler=str(properties["Handler"]),
                timeout_seconds=int(properties.get("Timeout", DEFAULT_TIMEOUT_SECONDS)),
                memory_mb=int(properties.get("MemorySize", DEFAULT_MEMORY_MB)),
                environment={key: _environment_value(value) for key, value in variables.items()},
                events=dict(stack.template.properties(logical_id).get("Events") or {}),
            )
        )
    return specs


def layer_code_dirs(stack: Stack) -> list[Path]:
    """Where each layer's code is importable from, as /opt/python is in Lambda."""
    dirs = []
    for logical_id in stack.logical_ids(LAYER_TYPE):
        content = stack.properties(logical_id, only=("ContentUri",)).get("ContentUri")
        if isinstance(content, str):
            root = (stack.template.directory / content).resolve()
            dirs.append(root / "python" if (root / "python").is_dir() else root)
    return dirs


class LambdaContext:
    """The context object the Lambda Python runtime passes to a handler."""

    def __init__(self, spec: FunctionSpec, request_id: str, log_stream_name: str) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class InvocationResult:
    """What the Invoke API returns: the response payload, and "Unhandled" when the function failed."""

    payload: bytes
    function_error: str | None = None

    def json(self) -> Any:
        return json.loads(self.payload)


def _error_payload(error_type: str, message: str, request_id: str, stack_trace: list[str] | None = None) -> bytes:
    # The exact document the Python runtime (awslambdaric) reports for a failed invocation.
    document = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace or [],
    }
    return json.dumps(document).encode()


class _HandlerNotFound(Exception):
    """The handler module loaded but has no such callable."""


def _init_failure(error: Exception, spec: FunctionSpec, request_id: str) -> InvocationResult:
    """The error types the Python runtime reports when a handler cannot be loaded."""
    module = spec.handler_module
    if isinstance(error, SyntaxError):
        error_type, message = "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module}': {error}"
    elif isinstance(error, ImportError):
        error_type, message = "Runtime.ImportModuleError", f"Unable to import module '{module}': {error}"
    elif isinstance(error, _HandlerNotFound):
        error_type = "Runtime.HandlerNotFound"
        message = f"Handler '{spec.handler_function}' missing on module '{module}'"
    else:
        error_type, message = type(error).__name__, str(error)
    return InvocationResult(_error_payload(error_type, message, request_id), "Unhandled")


class LocalFunction:
    """One function: its handler is imported on first use (a cold start) and kept."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._handler: Handler | None = None
        self._module_name = f"pdfjobs_local__{spec.logical_id}__{spec.handler_module.replace('.', '__')}"
        self._lock = threading.Lock()
        self._log_stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{secrets.token_hex(16)}"
        self.added_to_sys_path = False

    @property
    def module_name(self) -> str:
        return self._module_name

    def invoke(self, payload: bytes, request_id: str | None = None) -> InvocationResult:
        request_id = request_id or str(uuid.uuid4())
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise RequestTooLarge(f"{len(payload)} byte payload is over the {MAX_PAYLOAD_BYTES} byte limit")
        try:
            event = json.loads(payload) if payload.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidRequestContent(f"Could not parse request body into json: {error}") from error
        handler = self._handler_or_init_failure(request_id)
        if isinstance(handler, InvocationResult):
            return handler
        context = LambdaContext(self.spec, request_id, self._log_stream)
        try:
            result = handler(event, context)
        except Exception as error:
            # Drop our own frame: AWS shows the stack from the handler down.
            frames = traceback.extract_tb(error.__traceback__)[1:]
            body = _error_payload(type(error).__name__, str(error), request_id, traceback.format_list(frames))
            return InvocationResult(body, "Unhandled")
        try:
            body = json.dumps(result).encode()
        except (TypeError, ValueError) as error:
            message = f"Unable to marshal response: {error}"
            return InvocationResult(_error_payload("Runtime.MarshalError", message, request_id), "Unhandled")
        if len(body) > MAX_PAYLOAD_BYTES:
            message = (
                f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                f"({MAX_PAYLOAD_BYTES} bytes)."
            )
            return InvocationResult(_error_payload("Function.ResponseSizeTooLarge", message, request_id), "Unhandled")
        return InvocationResult(body)

    def _handler_or_init_failure(self, request_id: str) -> Handler | InvocationResult:
        with self._lock:
            if self._handler is None:
                try:
                    self._handler = self._load_handler()
                except Exception as error:
                    # Like Lambda, a failed init fails this invocation and is retried on the next one.
                    log.exception("%s: could not load handler %s", self.spec.logical_id, self.spec.handler)
                    return _init_failure(error, self.spec, request_id)
            return self._handler

    def _load_handler(self) -> Handler:
        module_file = self.spec.code_dir / (self.spec.handler_module.replace(".", "/") + ".py")
        if not module_file.is_file():
            raise ModuleNotFoundError(f"No module named '{self.spec.handler_module}' in {self.spec.code_dir}")
        # Lambda puts the code directory first on sys.path, so the handler's sibling imports work.
        if str(self.spec.code_dir) not in sys.path:
            sys.path.insert(0, str(self.spec.code_dir))
            self.added_to_sys_path = True
        module_spec = importlib.util.spec_from_file_location(self._module_name, module_file)
        if module_spec is None or module_spec.loader is None:
            raise ModuleNotFoundError(f"cannot load {module_file}")
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        sys.modules[self._module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(self._module_name, None)
            raise
        handler = getattr(module, self.spec.handler_function, None)
        if not callable(handler):
            raise _HandlerNotFound(self.spec.handler_function)
        return handler


class FunctionRegistry:
    """Every function of the template, found by logical id, physical name or ARN (with a qualifier)."""

    def __init__(self, specs: Iterable[FunctionSpec]) -> None:
        self._functions = {spec.logical_id: LocalFunction(spec) for spec in specs}
        self._by_name = {function.spec.name: function for function in self._functions.values()}
        _warn_about_shared_module_names([f.spec for f in self._functions.values()])

    def __iter__(self) -> Iterator[LocalFunction]:
        return iter(self._functions.values())

    def __getitem__(self, logical_id: str) -> LocalFunction:
        return self._functions[logical_id]

    def find(self, identifier: str) -> LocalFunction | None:
        """Resolve what the Invoke API accepts as FunctionName: name, name:qualifier, logical id,
        full ARN or partial ARN (account:function:name). An ARN of another account or region misses."""
        parts = identifier.split(":")
        if identifier.startswith("arn:"):
            if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
                return None
            if parts[3] != REGION or parts[4] != ACCOUNT_ID:
                return None
            name = parts[6]
        elif len(parts) >= 3 and parts[1] == "function":
            if parts[0] != ACCOUNT_ID:
                return None
            name = parts[2]
        else:
            name = parts[0]
        return self._by_name.get(name) or self._functions.get(name)

    def unload(self) -> None:
        """Forget the handler modules and code paths this registry put into the process."""
        for function in self._functions.values():
            sys.modules.pop(function.module_name, None)
            code_dir = str(function.spec.code_dir)
            if function.added_to_sys_path and code_dir in sys.path:
                sys.path.remove(code_dir)


def _warn_about_shared_module_names(specs: list[FunctionSpec]) -> None:
    """Two code directories with the same top-level module (say, `common.py`) cannot both be imported
    in one process: whichever loads first wins. Handler modules themselves load under unique names."""
    owners: dict[str, Path] = {}
    handler_modules = {spec.handler_module.split(".")[0] for spec in specs}
    for code_dir in sorted({spec.code_dir for spec in specs}):
        if not code_dir.is_dir():
            continue
        for entry in code_dir.iterdir():
            is_module = entry.suffix == ".py" or (entry / "__init__.py").is_file()
            name = entry.stem if entry.suffix == ".py" else entry.name
            if not is_module or name in handler_modules:
                continue
            if name in owners and owners[name] != code_dir:
                log.warning(
                    "module %r exists in both %s and %s; in one process only one of them is imported",
                    name,
                    owners[name],
                    code_dir,
                )
            owners.setdefault(name, code_dir)
