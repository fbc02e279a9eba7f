"""`python -m pdfjobs.local`: serve the API on this machine (what `make run` runs), or
`python -m pdfjobs.local invoke <LogicalId> --event event.json` to run one function once
(what `sam local invoke -e` does)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

DEFAULT_PORTS = {"PDFJOBS_PORT": 3000, "PDFJOBS_AWS_PORT": 4566, "PDFJOBS_LAMBDA_PORT": 3001}


def _port(variable: str) -> int:
    value = os.environ.get(variable, "")
    try:
        return int(value) if value else DEFAULT_PORTS[variable]
    except ValueError:
        raise SystemExit(f"{variable} must be a port number, not {value!r}") from None


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    # Our own handler, not propagated: Powertools claims the `pdfjobs` logger once a handler loads.
    runtime_log = logging.getLogger("pdfjobs.local")
    runtime_log.addHandler(handler)
    runtime_log.setLevel(logging.DEBUG if verbose else logging.INFO)
    runtime_log.propagate = False
    # moto's server logs every AWS call, and its ASL interpreter logs every (even caught) task
    # failure with a page-long repr; executions report failures through DescribeExecution anyway.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Step Functions tasks call the Lambda endpoint constantly; its access lines only when asked.
    logging.getLogger("pdfjobs.local.lambda").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfjobs.local",
        description="Run PDF Jobs locally (API, Lambda, Step Functions, DynamoDB, S3, SQS) in one "
        "process, with no Docker and no AWS account. Ports: PDFJOBS_PORT (3000), PDFJOBS_AWS_PORT "
        "(4566), PDFJOBS_LAMBDA_PORT (3001); admin key: PDFJOBS_ADMIN_KEY (else generated).",
    )
    parser.add_argument("--template", default="template.yaml", help="SAM template (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="also log every Lambda invocation")
    commands = parser.add_subparsers(dest="command")
    invoke = commands.add_parser("invoke", help="run one function once with an event file and print its result")
    invoke.add_argument("function", help="logical id (e.g. ApiFunction) or function name")
    invoke.add_argument("--event", "-e", required=True, help="JSON event file, or - for stdin")
    return parser


def serve(template: str) -> int:
    from pdfjobs.local.runtime import LocalRuntime

    runtime = LocalRuntime(
        template_path=template,
        api_port=_port("PDFJOBS_PORT"),
        aws_port=_port("PDFJOBS_AWS_PORT"),
        lambda_port=_port("PDFJOBS_LAMBDA_PORT"),
        admin_key=os.environ.get("PDFJOBS_ADMIN_KEY") or None,
    )
    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopping.set())
    runtime.start()
    try:
        print(
            f"PDF Jobs is running locally.\n"
            f"  API           {runtime.api_url}\n"
            f"  Docs          {runtime.api_url}/docs\n"
            f"  AWS endpoint  {runtime.aws_endpoint}  (region us-east-1, any credentials)\n"
            f"  Lambda        {runtime.lambda_endpoint}\n"
            f"  Admin key     {runtime.admin_key}\n"
            f"Ctrl-C to stop.",
            flush=True,
        )
        # A timed wait, so the signal handler runs promptly on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        runtime.stop()
    print("stopped.", flush=True)
    return 0


def invoke(template: str, function: str, event_path: str) -> int:
    from pdfjobs.local.lambda_functions import FunctionInvocationError
    from pdfjobs.local.runtime import LocalRuntime

    source = sys.stdin.read() if event_path == "-" else Path(event_path).read_text(encoding="utf-8")
    event = json.loads(source)
    result_stream = sys.stdout
    exit_code = 0
    result: Any
    # Handler logs (Powertools writes to stdout) go to stderr, so stdout is only the JSON result.
    with contextlib.redirect_stdout(sys.stderr):
        runtime = LocalRuntime(
            template_path=template,
            api_port=0,
            aws_port=0,
            lambda_port=0,
            admin_key=os.environ.get("PDFJOBS_ADMIN_KEY") or None,
            event_sources=False,
        )
        with runtime:
            try:
                result = runtime.invoke(function, event)
            except FunctionInvocationError as error:
                result, exit_code = error.payload, 1
    print(json.dumps(result, indent=2), file=result_stream, flush=True)
    return exit_code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    from pdfjobs.local.template import TemplateError

    try:
        if args.command == "invoke":
            return invoke(args.template, args.function, args.event)
        return serve(args.template)
    except (TemplateError, RuntimeError, KeyError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
