"""`pdfjobs`: the command-line client of the PDF Jobs API (a thin layer over pdfjobs.client).

    pdfjobs extract-text report.pdf -o report.json [--pages 1-3] [--layout] [--citations]
                                   [--password P] [--format json|txt|md] [--timeout S] [--quiet]
    pdfjobs jobs get|list|cancel|delete|result ...
    pdfjobs files upload|get|delete|download ...
    pdfjobs keys create|list|revoke ...
    pdfjobs health

Global options --api-url / --api-key (defaults: $PDFJOBS_API_URL / $PDFJOBS_API_KEY) may be given before
or after the command. Results go to stdout as JSON; messages and the progress bar go to stderr.

Exit codes: 0 success; 1 the job did not succeed (failed, cancelled, expired, or --timeout passed);
2 usage error; 3 API, network or local I/O error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from pdfjobs import __version__
from pdfjobs.client import (
    ApiError,
    Client,
    Job,
    NetworkError,
    Output,
    WaitTimeout,
    find_output,
)

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INTERRUPTED = 130

FORMAT_OUTPUTS = {"json": "result.json", "txt": "result.txt", "md": "result.md"}
OCR_FORMAT_OUTPUTS = {"json": "result.json", "txt": "result.txt", "hocr": "result.hocr", "pdf": "result.pdf"}


class UsageError(Exception):
    """A mistake in the command line or its inputs (exit 2)."""


class CommandError(Exception):
    """The API answered, but not with what the command needs (exit 3)."""


# ---------------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS defaults let the global options appear before or after the command without the
    # subcommand's (absent) value overwriting the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-url", default=argparse.SUPPRESS, help="API base URL ($PDFJOBS_API_URL)")
    common.add_argument("--api-key", default=argparse.SUPPRESS, help="API key ($PDFJOBS_API_KEY)")

    parser = argparse.ArgumentParser(prog="pdfjobs", description="Client for the PDF Jobs API.", parents=[common])
    parser.add_argument("--version", action="version", version=f"pdfjobs {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    extract = commands.add_parser(
        "extract-text", parents=[common], help="upload a PDF, extract its text, write the result"
    )
    extract.add_argument("file", help="the PDF (or image) to process")
    extract.add_argument("-o", "--output", default="-", help="where to write the result ('-' = stdout)")
    extract.add_argument("--pages", help='pages to extract, e.g. "1-3,7"')
    extract.add_argument("--layout", action="store_true", help="include layout (blocks and positions)")
    extract.add_argument("--citations", action="store_true", help="include page citations")
    extract.add_argument("--password", help="password of an encrypted PDF")
    extract.add_argument("--format", choices=sorted(FORMAT_OUTPUTS), default="json", help="result format")
    extract.add_argument(
        "--timeout", type=_positive_float, default=600.0, help="seconds to wait for the job (default 600)"
    )
    extract.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    extract.set_defaults(handler=cmd_extract_text)

    ocr = commands.add_parser(
        "ocr", parents=[common], help="upload a scan (PDF or image), OCR it, write a searchable PDF, text, hOCR or JSON"
    )
    ocr.add_argument("file", help="the PDF, PNG, JPEG, TIFF or BMP to read")
    ocr.add_argument("-o", "--output", default="-", help="where to write the result ('-' = stdout)")
    ocr.add_argument("--format", choices=sorted(OCR_FORMAT_OUTPUTS), default="pdf", help="result format (pdf)")
    ocr.add_argument("--lang", help='languages, used together: "eng+fra" (default eng)')
    ocr.add_argument("--engine", choices=["tesseract", "textract"], help="OCR engine (default tesseract)")
    ocr.add_argument("--mode", choices=["skip", "redo", "force"], help="pages that already have text (skip)")
    ocr.add_argument("--deskew", action="store_true", help="straighten skewed scans before reading")
    ocr.add_argument("--rotate-pages", action="store_true", help="turn sideways or upside-down pages upright")
    ocr.add_argument("--dpi", type=int, help="resolution to read at (default: the page images')")
    ocr.add_argument("--pages", help='pages to read, e.g. "1-3,7"')
    ocr.add_argument("--password", help="password of an encrypted PDF")
    ocr.add_argument("--timeout", type=_positive_float, default=900.0, help="seconds to wait (default 900)")
    ocr.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    ocr.set_defaults(handler=cmd_ocr)

    html = commands.add_parser("html-to-pdf", parents=[common], help="print an HTML file or a public URL to PDF")
    html.add_argument("source", help="an .html file, or an http(s) URL")
    html.add_argument("-o", "--output", default="-", help="where to write the PDF ('-' = stdout)")
    html.add_argument("--page-size", help="A4 (default), Letter, Legal, A3, A5, Tabloid, or '210mm 297mm'")
    html.add_argument("--orientation", choices=["portrait", "landscape"])
    html.add_argument("--margin", help="all four margins, e.g. 15mm")
    html.add_argument("--header", help="text at the top of each page; {page} and {pages} are replaced")
    html.add_argument("--footer", help="text at the bottom of each page")
    html.add_argument("--print-background", action="store_true", help="paint CSS backgrounds")
    html.add_argument("--timeout", type=_positive_float, default=300.0, help="seconds to wait (default 300)")
    html.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    html.set_defaults(handler=cmd_html_to_pdf)

    jobs = commands.add_parser("jobs", parents=[common], help="inspect and manage jobs")
    jobs_cmds = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    p = jobs_cmds.add_parser("get", parents=[common], help="show a job")
    p.add_argument("job_id")
    p.set_defaults(handler=lambda c, a: _print_json(c.get_job(a.job_id)))
    p = jobs_cmds.add_parser("list", parents=[common], help="list jobs (one page, or --all)")
    p.add_argument("--limit", type=_positive_int)
    p.add_argument("--cursor")
    p.add_argument("--status")
    p.add_argument("--job-type")
    p.add_argument("--all", action="store_true", help="follow nextCursor through every page")
    p.set_defaults(handler=cmd_jobs_list)
    p = jobs_cmds.add_parser("cancel", parents=[common], help="cancel a job")
    p.add_argument("job_id")
    p.set_defaults(handler=lambda c, a: _print_json(c.cancel_job(a.job_id)))
    p = jobs_cmds.add_parser("delete", parents=[common], help="delete a job and its outputs")
    p.add_argument("job_id")
    p.set_defaults(handler=lambda c, a: _print_json(c.delete_job(a.job_id)))
    p = jobs_cmds.add_parser("result", parents=[common], help="show a job's result, or download one output")
    p.add_argument("job_id")
    p.add_argument("--output-name", help="download this output (e.g. result.txt) instead of printing")
    p.add_argument("-o", "--output", default="-", help="where to write --output-name ('-' = stdout)")
    p.set_defaults(handler=cmd_jobs_result)

    files = commands.add_parser("files", parents=[common], help="upload and manage files")
    files_cmds = files.add_subparsers(dest="files_command", required=True, metavar="ACTION")
    p = files_cmds.add_parser("upload", parents=[common], help="upload a file and print it")
    p.add_argument("path")
    p.add_argument("--content-type", help="default: detected from the file's first bytes")
    p.add_argument("--small", action="store_true", help="one request (POST /files, up to ~4 MB)")
    p.set_defaults(handler=cmd_files_upload)
    p = files_cmds.add_parser("get", parents=[common], help="show a file")
    p.add_argument("file_id")
    p.set_defaults(handler=lambda c, a: _print_json(c.get_file(a.file_id)))
    p = files_cmds.add_parser("delete", parents=[common], help="delete a file")
    p.add_argument("file_id")
    p.set_defaults(handler=lambda c, a: _print_json(c.delete_file(a.file_id)))
    p = files_cmds.add_parser("download", parents=[common], help="download a file's bytes")
    p.add_argument("file_id")
    p.add_argument("-o", "--output", default="-", help="destination ('-' = stdout)")
    p.set_defaults(handler=cmd_files_download)

    keys = commands.add_parser("keys", parents=[common], help="manage API keys")
    keys_cmds = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    p = keys_cmds.add_parser("create", parents=[common], help="create a key (its secret is shown once)")
    p.add_argument("name")
    p.add_argument("--scope", action="append", dest="scopes", help="a scope to grant (repeatable)")
    p.add_argument("--tenant-id")
    p.set_defaults(handler=lambda c, a: _print_json(c.create_api_key(a.name, a.scopes, a.tenant_id)))
    p = keys_cmds.add_parser("list", parents=[common], help="list keys (metadata only)")
    p.set_defaults(handler=lambda c, a: _print_json({"items": c.list_api_keys()}))
    p = keys_cmds.add_parser("revoke", parents=[common], help="revoke a key")
    p.add_argument("key_id")
    p.set_defaults(handler=lambda c, a: _print_json(c.revoke_api_key(a.key_id)))

    health = commands.add_parser("health", parents=[common], help="show the API's health")
    health.set_defaults(handler=cmd_health, needs_key=False)
    return parser


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2); return instead
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    api_url = getattr(args, "api_url", None) or os.environ.get("PDFJOBS_API_URL") or None
    api_key = getattr(args, "api_key", None) or os.environ.get("PDFJOBS_API_KEY") or None
    if getattr(args, "needs_key", True) and not api_key:
        return _fail(EXIT_USAGE, "no API key: pass --api-key or set PDFJOBS_API_KEY")

    handler: Callable[[Client, argparse.Namespace], int | None] = args.handler
    try:
        with Client(api_key, api_url) as client:
            return handler(client, args) or EXIT_OK
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except CommandError as exc:
        return _fail(EXIT_ERROR, str(exc))
    except ApiError as exc:
        where = f"HTTP {exc.status}" + (f", request {exc.request_id}" if exc.request_id else "")
        return _fail(EXIT_ERROR, f"{exc.code}: {exc.message} ({where})")
    except NetworkError as exc:
        return _fail(EXIT_ERROR, f"cannot reach the API: {exc}")
    except OSError as exc:
        return _fail(EXIT_ERROR, str(exc))
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")


# ---------------------------------------------------------------------------------------------------
# Commands (each returns an exit code, or None for 0)
# ---------------------------------------------------------------------------------------------------


def cmd_extract_text(client: Client, args: argparse.Namespace) -> int:
    path = _existing_file(args.file)
    say = _messenger(args.quiet)
    file = client.upload(path)
    say(f"uploaded {path.name} as {file['id']}")
    job = client.extract_text(
        [file["id"]],
        pages=args.pages,
        include_layout=True if args.layout else None,
        include_page_citations=True if args.citations else None,
        password=args.password,
    )
    return _finish(client, job, args, FORMAT_OUTPUTS[args.format], say)


def cmd_ocr(client: Client, args: argparse.Namespace) -> int:
    path = _existing_file(args.file)
    say = _messenger(args.quiet)
    file = client.upload(path)
    say(f"uploaded {path.name} as {file['id']}")
    job = client.ocr_pdf(
        [file["id"]],
        output_format=args.format,
        engine=args.engine,
        languages=args.lang.split("+") if args.lang else None,
        mode=args.mode,
        deskew=True if args.deskew else None,
        rotate_pages=True if args.rotate_pages else None,
        dpi=args.dpi,
        pages=args.pages,
        password=args.password,
    )
    return _finish(client, job, args, OCR_FORMAT_OUTPUTS[args.format], say)


def cmd_html_to_pdf(client: Client, args: argparse.Namespace) -> int:
    say = _messenger(args.quiet)
    options = {
        "page_size": args.page_size,
        "orientation": args.orientation,
        "margin": args.margin,
        "header": args.header,
        "footer": args.footer,
        "print_background": True if args.print_background else None,
    }
    if args.source.startswith(("http://", "https://")):
        job = client.html_to_pdf(url=args.source, **options)
    else:
        file = client.upload(_existing_file(args.source), "text/html")
        say(f"uploaded {args.source} as {file['id']}")
        job = client.html_to_pdf([file["id"]], **options)
    return _finish(client, job, args, "result.pdf", say)


def _existing_file(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    return path


def _finish(client: Client, job: Job, args: argparse.Namespace, output_name: str, say: Callable[[str], None]) -> int:
    """Waits for a submitted job with a progress bar, then writes `output_name` (JSON inline when it is)."""
    job_id = job["id"]
    say(f"submitted job {job_id}")
    try:
        job = _wait_with_progress(client, job, args.timeout, show=not args.quiet)
    except WaitTimeout as exc:
        return _fail(
            EXIT_JOB_FAILED,
            f"job {job_id} did not finish within {args.timeout:g}s (last status {exc.job.get('status')}); "
            f"it continues on the server: pdfjobs jobs get {job_id}",
        )
    except KeyboardInterrupt:
        # The job keeps running server-side; tell the user how to find or stop it.
        return _fail(EXIT_INTERRUPTED, f"interrupted; job {job_id} continues (pdfjobs jobs cancel {job_id})")

    if job["status"] != "succeeded":
        error: dict[str, Any] = dict(job.get("error") or {})
        reason = f": {error.get('code')}: {error.get('message')}" if error else ""
        return _fail(EXIT_JOB_FAILED, f"job {job_id} {job['status']}{reason}")

    result = client.get_result(job_id)
    if output_name == "result.json" and result.get("data") is not None:
        text = json.dumps(result["data"], indent=2, ensure_ascii=False) + "\n"
        _write_bytes(args.output, text.encode("utf-8"))
    else:
        _download_output(client, _require_output(result, output_name), args.output)
    if args.output != "-":
        say(f"wrote {args.output}")
    return EXIT_OK


def cmd_jobs_list(client: Client, args: argparse.Namespace) -> None:
    if args.all:
        items = list(client.iter_jobs(status=args.status, job_type=args.job_type, page_size=args.limit))
        _print_json({"items": items, "nextCursor": None})
    else:
        page = client.list_jobs(limit=args.limit, cursor=args.cursor, status=args.status, job_type=args.job_type)
        _print_json(page)


def cmd_jobs_result(client: Client, args: argparse.Namespace) -> None:
    result = client.get_result(args.job_id)
    if args.output_name:
        _download_output(client, _require_output(result, args.output_name), args.output)
    else:
        _print_json(result)


def cmd_files_upload(client: Client, args: argparse.Namespace) -> None:
    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    upload = client.upload_small if args.small else client.upload
    _print_json(upload(path, args.content_type))


def cmd_files_download(client: Client, args: argparse.Namespace) -> None:
    if args.output == "-":
        client.download_file(args.file_id, _stdout_bytes())
        sys.stdout.flush()
    else:
        client.download_file(args.file_id, args.output)


def cmd_health(client: Client, args: argparse.Namespace) -> int:
    try:
        _print_json(client.health())
    except ApiError as exc:
        if isinstance(exc.body, dict) and "status" in exc.body:
            # An unhealthy answer (503) still carries the checks; show them, then report failure.
            _print_json(exc.body)
            return EXIT_ERROR
        raise
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def _wait_with_progress(client: Client, job: Job, timeout: float, *, show: bool) -> Job:
    bar = tqdm(
        total=100,
        desc=job["id"],
        file=sys.stderr,
        disable=not show,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}{postfix}]",
        dynamic_ncols=True,
    )

    def on_progress(current: Job) -> None:
        progress = current.get("progress")
        percent = int(progress) if isinstance(progress, (int, float)) else 0
        if current.get("status") == "succeeded":
            percent = 100
        # Absolute, monotonic: progress reported by the server never moves the bar backwards.
        bar.n = max(bar.n, min(100, max(0, percent)))
        bar.set_postfix_str(str(current.get("status")), refresh=False)
        bar.refresh()

    with bar:
        return client.wait(job["id"], timeout=timeout, on_progress=on_progress)


def _require_output(result: Any, name: str) -> Output:
    output = find_output(result, name)
    if output is None:
        names = ", ".join(o.get("name", "?") for o in result.get("outputs") or []) or "none"
        raise CommandError(f"the result has no {name} output (outputs: {names})")
    return output


def _download_output(client: Client, output: Output, dest: str) -> None:
    if dest == "-":
        client.download_output(output, _stdout_bytes())
        sys.stdout.flush()
    else:
        client.download_output(output, dest)


def _write_bytes(dest: str, data: bytes) -> None:
    if dest == "-":
        _stdout_bytes().write(data)
        sys.stdout.flush()
    else:
        Path(dest).write_bytes(data)


class _TextSink:
    """Bytes written to a text stream with no .buffer (e.g. a replaced sys.stdout), decoded as UTF-8."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        # Incremental: a multi-byte character split across two chunks still decodes.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> int:
        self._stream.write(self._decoder.decode(data))
        return len(data)


def _stdout_bytes() -> Any:
    sys.stdout.flush()  # anything already printed as text must come before the bytes
    buffer = getattr(sys.stdout, "buffer", None)
    return buffer if buffer is not None else _TextSink(sys.stdout)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _messenger(quiet: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    return say


def _fail(code: int, message: str) -> int:
    print(f"pdfjobs: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
