"""The API Gateway front (what `sam local start-api` serves): each HTTP request becomes a REST API
proxy event (payload v1) for the function whose `Type: Api` event matches, and its result an HTTP
response, with API Gateway's routing, binary and size rules."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from pdfjobs.local.lambda_functions import FunctionRegistry, LocalFunction, RequestTooLarge
from pdfjobs.local.resources import ACCOUNT_ID, API_TYPE, Stack
from pdfjobs.local.template import TemplateError

# API Gateway's payload limit for REST APIs.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# What SAM calls the API it creates when an Api event names no RestApiId.
IMPLICIT_API = "ServerlessRestApi"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestApi:
    logical_id: str
    api_id: str
    stage: str
    binary_media_types: tuple[str, ...]

    def is_binary(self, mimetype: str) -> bool:
        mimetype = mimetype.lower()
        for pattern in self.binary_media_types:
            if pattern in ("*/*", mimetype):
                return True
            if pattern.endswith("/*") and mimetype.startswith(pattern[:-1]):
                return True
        return False


@dataclass(frozen=True)
class ApiRoute:
    api: RestApi
    resource: str
    method: str
    function: LocalFunction

    @property
    def _segments(self) -> list[str]:
        return [s for s in self.resource.split("/") if s]

    def match(self, path: str) -> dict[str, str] | None:
        """Path parameters if `path` (stage already removed) matches this resource, else None."""
        pattern = self._segments
        parts = path.split("/")[1:] if path != "/" else []
        parameters: dict[str, str] = {}
        for index, segment in enumerate(pattern):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = "/".join(parts[index:])
                if not rest:
                    return None
                parameters[segment[1:-2]] = rest
                return parameters
            if index >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not parts[index]:
                    return None
                parameters[segment[1:-1]] = parts[index]
            elif segment != parts[index]:
                return None
        return parameters if len(parts) == len(pattern) else None

    def specificity(self) -> tuple[int, ...]:
        """Smaller is more specific: literal segments beat {param}, which beats {greedy+}."""
        ranks = [2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self._segments]
        return (*ranks, 0 if self.method != "ANY" else 1)


def api_routes(stack: Stack, functions: FunctionRegistry) -> list[ApiRoute]:
    """Every `Type: Api` event of every function, with its API's stage and binary media types."""
    apis: dict[str, RestApi] = {}
    routes = []
    for function in functions:
        for event in function.spec.events.values():
            if event.get("Type") != "Api":
                continue
            properties = event.get("Properties") or {}
            api_ref = properties.get("RestApiId") or {"Ref": IMPLICIT_API}
            if not (isinstance(api_ref, dict) and "Ref" in api_ref):
                raise TemplateError(f"{function.spec.logical_id}: RestApiId must be a !Ref to an Api")
            api_logical_id = str(api_ref["Ref"])
            if api_logical_id not in apis:
                apis[api_logical_id] = _rest_api(stack, api_logical_id)
            routes.append(
                ApiRoute(
                    api=apis[api_logical_id],
                    resource=str(stack.resolve(properties["Path"])),
                    method=str(stack.resolve(properties["Method"])).upper().replace("*", "ANY"),
                    function=function,
                )
            )
    return routes


def _rest_api(stack: Stack, logical_id: str) -> RestApi:
    if logical_id == IMPLICIT_API:
        properties = dict(stack.resolve((stack.template.body.get("Globals") or {}).get("Api") or {}))
        stage = "Prod"
    else:
        if stack.template.resource_type(logical_id) != API_TYPE:
            raise TemplateError(f"{logical_id} is not an AWS::Serverless::Api")
        properties = stack.properties(logical_id, only=("StageName", "BinaryMediaTypes"))
        stage = str(properties["StageName"])
    # In the template `/` is written `~1` (a JSON-pointer escape); API Gateway stores the real type.
    binary = tuple(str(t).replace("~1", "/").lower() for t in properties.get("BinaryMediaTypes") or [])
    return RestApi(logical_id=logical_id, api_id=stack.api_id(logical_id), stage=stage, binary_media_types=binary)


def _gateway_error(status: int, message: str, request_id: str, error_type: str | None = None) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return Response(json.dumps({"message": message}), status=status, headers=headers, content_type="application/json")


class ApiGatewayApp:
    """WSGI app: route, build the proxy event, invoke in-process, translate the proxy result."""

    def __init__(self, routes: list[ApiRoute]) -> None:
        self._routes = routes
        self.default_api: RestApi | None = routes[0].api if routes else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._respond(Request(environ))(environ, start_response)

    def _split_stage(self, full_path: str) -> tuple[RestApi | None, str]:
        for api in {route.api for route in self._routes}:
            prefix = f"/{api.stage}"
            if full_path == prefix or full_path.startswith(prefix + "/"):
                return api, full_path[len(prefix) :] or "/"
        # Local convenience: /health, /docs... without the stage go to the default API unchanged.
        return self.default_api, full_path

    def _route(self, api: RestApi, path: str, method: str) -> tuple[ApiRoute, dict[str, str]] | None:
        candidates = []
        for route in self._routes:
            if route.api != api or route.method not in ("ANY", method):
                continue
            parameters = route.match(path)
            if parameters is not None:
                candidates.append((route.specificity(), route, parameters))
        if not candidates:
            return None
        _, route, parameters = min(candidates, key=lambda candidate: candidate[0])
        return route, parameters

    def _respond(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        api, path = self._split_stage(request.path)
        routed = self._route(api, path, request.method) if api else None
        if api is None or routed is None:
            # What API Gateway answers for a path or method no resource defines.
            return _gateway_error(
                403, "Missing Authentication Token", request_id, "MissingAuthenticationTokenException"
            )
        # Read (at most one byte past the limit) before answering: a client still sending a body
        # the server never read would see a reset connection instead of the 413.
        raw_body = request.stream.read(MAX_REQUEST_BYTES + 1)
        if len(raw_body) > MAX_REQUEST_BYTES:
            return _gateway_error(413, "Request Too Long", request_id)
        route, path_parameters = routed
        event = proxy_event(request, api, route, path, path_parameters, raw_body, request_id)
        try:
            result = route.function.invoke(json.dumps(event).encode(), request_id)
        except RequestTooLarge:
            # The event (body base64-encoded when binary) is over Lambda's 6 MB invocation limit.
            return _gateway_error(413, "Request Too Long", request_id)
        if result.function_error:
            log.error("%s failed: %s", route.function.spec.logical_id, result.payload.decode(errors="replace"))
            return _gateway_error(502, "Internal server error", request_id)
        try:
            return proxy_response(result.json(), request_id)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            log.error("%s returned a malformed proxy response: %s", route.function.spec.logical_id, error)
            return _gateway_error(502, "Internal server error", request_id)


def proxy_event(
    request: Request,
    api: RestApi,
    route: ApiRoute,
    path: str,
    path_parameters: dict[str, str],
    raw_body: bytes,
    request_id: str,
) -> dict[str, Any]:
    """The REST API Lambda proxy event (payload format 1.0) for one request."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    source_ip = request.remote_addr or "127.0.0.1"
    port = str(request.environ.get("SERVER_PORT", ""))
    # API Gateway adds these; an API that builds absolute URLs relies on them.
    for name, value in (
        ("X-Forwarded-For", source_ip),
        ("X-Forwarded-Port", port),
        ("X-Forwarded-Proto", "http"),
    ):
        if name not in headers:
            headers[name] = value
            multi_headers[name] = [value]

    query = {key: values[-1] for key, values in request.args.lists()}
    multi_query = {key: list(values) for key, values in request.args.lists()}
    is_binary = api.is_binary(request.mimetype) if raw_body else False
    body: str | None = None
    if raw_body:
        if not is_binary:
            try:
                body = raw_body.decode("utf-8")
            except UnicodeDecodeError:
                is_binary = True
        if is_binary:
            body = base64.b64encode(raw_body).decode("ascii")
    now = time.time()
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": secrets.token_hex(3),
            "resourcePath": route.resource,
            "httpMethod": request.method,
            "extendedRequestId": secrets.token_urlsafe(12),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": request.path,
            "accountId": ACCOUNT_ID,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": api.stage,
            "domainPrefix": request.host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": request.headers.get("User-Agent"),
                "user": None,
            },
            "domainName": request.host,
            "apiId": api.api_id,
        },
        "body": body,
        "isBase64Encoded": is_binary,
    }


def proxy_response(result: dict[str, Any], request_id: str) -> Response:
    """Turn a Lambda proxy result into the HTTP response API Gateway would send."""
    if not isinstance(result, dict):
        raise TypeError(f"proxy result is a {type(result).__name__}, not an object")
    status = int(result["statusCode"])
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise TypeError("proxy result body must be a string")
    payload = base64.b64decode(body) if body and result.get("isBase64Encoded") else (body or "").encode()
    # API Gateway merges the two header maps; for a name in both, multiValueHeaders wins.
    merged: dict[str, list[str]] = {k: [str(v)] for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        merged[name] = [str(v) for v in values]
    response = Response(status=status)
    response.headers.clear()
    for name, values in merged.items():
        # API Gateway computes the length of what it sends itself.
        if name.lower() != "content-length":
            for value in values:
                response.headers.add(name, value)
    if "content-type" not in {name.lower() for name in merged}:
        response.headers["Content-Type"] = "application/json"
    response.headers["x-amzn-RequestId"] = request_id
    response.set_data(payload)
    return response
