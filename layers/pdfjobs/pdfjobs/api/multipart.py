"""multipart/form-data parsing for POST /files (python-multipart, bounded by the body already in memory)."""

from __future__ import annotations

from python_multipart import FormParser
from python_multipart.multipart import parse_options_header

from pdfjobs.errors import BadRequest, FileEmpty


def read_file_field(content_type: str, body: bytes, field: str = "file") -> tuple[str, bytes]:
    """The filename and bytes of the form field `field`."""
    mime, params = parse_options_header(content_type)
    if mime != b"multipart/form-data" or b"boundary" not in params:
        raise BadRequest("Send the file as multipart/form-data with a `file` field.", details={"field": "file"})
    found: dict[str, tuple[str, bytes]] = {}

    def on_file(file: object) -> None:
        name = (getattr(file, "field_name", b"") or b"").decode(errors="replace")
        filename = (getattr(file, "file_name", b"") or b"").decode(errors="replace")
        file.file_object.seek(0)  # type: ignore[attr-defined]
        found[name] = (filename, file.file_object.read())  # type: ignore[attr-defined]

    def on_field(_field: object) -> None:
        pass

    parser = FormParser(
        "multipart/form-data",
        on_field,
        on_file,
        boundary=params[b"boundary"],
        config={"MAX_MEMORY_FILE_SIZE": len(body) + 1},
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as error:  # python-multipart raises several unrelated types on bad input
        raise BadRequest("The multipart body is malformed.", details={"field": "file"}) from error
    if field not in found:
        raise BadRequest(f"The form has no `{field}` file field.", details={"field": field})
    filename, data = found[field]
    if not data:
        raise FileEmpty()
    return filename or "upload", data
