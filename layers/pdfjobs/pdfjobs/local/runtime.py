"""The whole stack in one process: moto (server + in-process mock sharing one backend, executing
state machines), the Lambda Invoke endpoint, the API Gateway front and the SQS pollers, all built
from template.yaml."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import boto3

from pdfjobs.local.api_gateway import ApiGatewayApp, api_routes
from pdfjobs.local.environment import ProcessEnvironment, emulator_environment, merged_function_environment
from pdfjobs.local.http_server import BackgroundHttpServer
from pdfjobs.local.lambda_endpoint import AsyncInvocations, LambdaInvokeApp
from pdfjobs.local.lambda_functions import (
    FunctionInvocationError,
    FunctionRegistry,
    function_specs,
    layer_code_dirs,
)
from pdfjobs.local.moto_backend import executing_mock, moto_server, stop_running_executions
from pdfjobs.local.resources import REGION, Stack, create_resources
from pdfjobs.local.sqs_poller import SqsPoller, sqs_event_sources
from pdfjobs.local.template import SamTemplate, TemplateError

HOST = "127.0.0.1"
ADMIN_KEY_PARAMETER = "AdminApiKeySha256"
# Async invocations still running at stop() get this long to finish.
ASYNC_DRAIN_SECONDS = 5.0

log = logging.getLogger(__name__)


def _forget_cached_configuration() -> None:
    from pdfjobs import aws_clients
    from pdfjobs.settings import get_settings

    get_settings.cache_clear()
    aws_clients.reset()


def generate_admin_key() -> str:
    return "pdfj_" + secrets.token_urlsafe(32)


def _check_port_free(port: int, setting: str) -> None:
    """ThreadedMotoServer hangs rather than fail when its port is taken, so look first."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise RuntimeError(f"port {port} on {HOST} is in use ({setting}); pick another") from error


def _stop_serving(
    pollers: list[SqsPoller],
    api_server: BackgroundHttpServer,
    lambda_server: BackgroundHttpServer,
    async_invocations: AsyncInvocations,
) -> None:
    for poller in pollers:
        poller.stop(wait=False)  # all at once: each may be in a long-poll of up to a second
    for poller in pollers:
        poller.stop()
    api_server.stop()
    async_invocations.join(ASYNC_DRAIN_SECONDS)
    lambda_server.stop()


def _parameter_value(name: str, definition: Mapping[str, Any], value: Any) -> Any:
    """Check a parameter as CloudFormation would and give the value Ref returns."""
    parameter_type = str(definition.get("Type", "String"))
    if parameter_type == "CommaDelimitedList" or parameter_type.startswith("List<"):
        items = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
        return [str(item) for item in items]
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    allowed = definition.get("AllowedValues")
    if allowed is not None and text not in {str(a) for a in allowed}:
        raise TemplateError(f"parameter {name}={text!r} is not one of {allowed}")
    pattern = definition.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), text):
        raise TemplateError(f"parameter {name}={text!r} does not match {pattern}")
    if parameter_type == "Number":
        number = float(text)
        if "MinValue" in definition and number < float(definition["MinValue"]):
            raise TemplateError(f"parameter {name}={text} is below {definition['MinValue']}")
        if "MaxValue" in definition and number > float(definition["MaxValue"]):
            raise TemplateError(f"parameter {name}={text} is above {definition['MaxValue']}")
    return text


class LocalRuntime:
    """PDF Jobs on this machine: `sam local start-api` + `sam local start-lambda` + the AWS services,
    in one process, with no Docker and no AWS account. One per process (moto's mock is global)."""

    _active_lock: ClassVar[threading.Lock] = threading.Lock()
    _active: ClassVar[bool] = False

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        project_root: str | Path | None = None,
        api_port: int = 3000,
        aws_port: int = 4566,
        lambda_port: int = 3001,
        admin_key: str | None = None,
        parameter_overrides: Mapping[str, Any] | None = None,
        *,
        event_sources: bool = True,
    ) -> None:
        self.project_root = Path(project_root).resolve() if project_root else Path.cwd()
        self.template_path = (self.project_root / template_path).resolve()
        self.admin_key = admin_key or generate_admin_key()
        self._ports = {"api": api_port, "aws": aws_port, "lambda": lambda_port}
        self._parameter_overrides = dict(parameter_overrides or {})
        self._event_sources = event_sources
        self._cleanup: contextlib.ExitStack | None = None
        self._functions: FunctionRegistry | None = None
        self._endpoints: dict[str, str] = {}
        self.resource_names: dict[str, str] = {}
        self.api_stage = ""

    # -- addresses (known once started: a port of 0 is chosen at start) --

    def _endpoint(self, name: str) -> str:
        if name not in self._endpoints:
            raise RuntimeError("the local runtime is not started")
        return self._endpoints[name]

    @property
    def base_url(self) -> str:
        return self._endpoint("api")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/{self.api_stage}" if self.api_stage else self.base_url

    @property
    def aws_endpoint(self) -> str:
        return self._endpoint("aws")

    @property
    def lambda_endpoint(self) -> str:
        return self._endpoint("lambda")

    # -- lifecycle --

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Returns once every server listens and every resource of the template exists."""
        with LocalRuntime._active_lock:
            if LocalRuntime._active:
                raise RuntimeError("a LocalRuntime is already running in this process (moto's mock is global)")
            LocalRuntime._active = True
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(self._release_process_slot)
            self._start(cleanup)
            self._cleanup = cleanup.pop_all()

    def stop(self) -> None:
        """Stops pollers, servers and the mock, joins their threads, restores the environment."""
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup.close()
        self._endpoints.clear()

    def _release_process_slot(self) -> None:
        with LocalRuntime._active_lock:
            LocalRuntime._active = False

    def _start(self, cleanup: contextlib.ExitStack) -> None:
        template = SamTemplate.load(self.template_path)
        parameters = self._parameters(template)
        for setting, port in self._ports.items():
            _check_port_free(port, f"{setting} port")
        environment = ProcessEnvironment()
        cleanup.callback(environment.restore)

        aws_endpoint = cleanup.enter_context(moto_server(HOST, self._ports["aws"]))

        stack = Stack(template, parameters, aws_endpoint)
        specs = function_specs(stack)
        function_environment = merged_function_environment(specs)
        functions = FunctionRegistry(specs)
        cleanup.callback(functions.unload)
        for layer_dir in layer_code_dirs(stack):
            if str(layer_dir) not in sys.path:
                sys.path.append(str(layer_dir))
                cleanup.callback(sys.path.remove, str(layer_dir))

        async_invocations = AsyncInvocations()
        lambda_server = BackgroundHttpServer(
            LambdaInvokeApp(functions, async_invocations), HOST, self._ports["lambda"], "lambda"
        )
        cleanup.callback(lambda_server.stop)
        api = ApiGatewayApp(api_routes(stack, functions))
        api_server = BackgroundHttpServer(api, HOST, self._ports["api"], "api")
        cleanup.callback(api_server.stop)

        # Before the mock starts: it saves and later restores the credential variables it overrides.
        environment.apply(function_environment)  # every handler sees all functions' variables
        environment.apply(emulator_environment(aws_endpoint, lambda_server.url))
        # Settings and clients are cached per process; anything read before now saw other values.
        _forget_cached_configuration()
        cleanup.callback(_forget_cached_configuration)

        # Active mock: moto's Step Functions interpreter then builds its Lambda client without an
        # endpoint, so botocore takes AWS_ENDPOINT_URL_LAMBDA, our Invoke endpoint.
        cleanup.enter_context(executing_mock())
        create_resources(stack)

        lambda_server.start()
        api_server.start()
        pollers = self._pollers(stack, functions) if self._event_sources else []
        # Close the doors first on stop: no new batch, request or invocation while the mock goes away.
        cleanup.callback(_stop_serving, pollers, api_server, lambda_server, async_invocations)
        cleanup.callback(stop_running_executions)
        for poller in pollers:
            poller.start()

        self._functions = functions
        cleanup.callback(setattr, self, "_functions", None)
        self.resource_names = stack.resource_names()
        self.api_stage = api.default_api.stage if api.default_api else ""
        self._endpoints = {"api": api_server.url, "aws": aws_endpoint, "lambda": lambda_server.url}
        log.info("local runtime up: api %s, aws %s, lambda %s", api_server.url, aws_endpoint, lambda_server.url)

    @staticmethod
    def _pollers(stack: Stack, functions: FunctionRegistry) -> list[SqsPoller]:
        session = boto3.session.Session(region_name=REGION)
        # Clients made here, on one thread: creating boto3 clients concurrently is not thread-safe.
        return [
            SqsPoller(source, session.client("sqs", endpoint_url=stack.aws_endpoint))
            for source in sqs_event_sources(stack, functions)
        ]

    def _parameters(self, template: SamTemplate) -> dict[str, Any]:
        overrides = dict(self._parameter_overrides)
        unknown = set(overrides) - set(template.parameters)
        if unknown:
            raise TemplateError(f"parameter_overrides names unknown parameters: {sorted(unknown)}")
        admin_digest = hashlib.sha256(self.admin_key.encode()).hexdigest()
        if ADMIN_KEY_PARAMETER in overrides and overrides[ADMIN_KEY_PARAMETER] != admin_digest:
            # `admin_key` must be the key that works; pass the key, the digest follows from it.
            raise ValueError(f"the {ADMIN_KEY_PARAMETER} override is not the sha256 of admin_key")
        values = {}
        for name, definition in template.parameters.items():
            if name in overrides:
                value = overrides[name]
            elif name == ADMIN_KEY_PARAMETER:
                value = admin_digest
            elif "Default" in definition:
                value = definition["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default; pass it in parameter_overrides")
            values[name] = _parameter_value(name, definition, value)
        return values

    # -- invoking --

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run one function in-process, the same path the Invoke endpoint takes; returns its result
        (usually a dict) or raises FunctionInvocationError with Lambda's error document."""
        if self._functions is None:
            raise RuntimeError("the local runtime is not started")
        function = self._functions.find(logical_id)
        if function is None:
            raise KeyError(f"no function {logical_id!r} in {self.template_path.name}")
        result = function.invoke(json.dumps(event).encode())
        if result.function_error:
            raise FunctionInvocationError(result.json())
        return result.json()
