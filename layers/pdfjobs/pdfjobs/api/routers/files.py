"""Presigned uploads (POST /uploads, POST /uploads/{id}/complete) and files (POST/GET/DELETE /files)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from pdfjobs.api.dependencies import RequestInfo, current_principal, mutation, request_info
from pdfjobs.api.multipart import read_file_field
from pdfjobs.api.routers.responses import errors, ok
from pdfjobs.api.schemas import CreateUploadRequest, DeletedOut, FileOut, UploadOut
from pdfjobs.idempotency import MutationResponse
from pdfjobs.records import Principal
from pdfjobs.services.files import FileService

router = APIGatewayRouter()
TAGS = ["Uploads and files"]


@router.post(
    "/uploads",
    summary="Create a short-lived presigned upload for one file",
    description="Send the file to `url` as multipart/form-data: every entry of `fields`, then the file as `file`. "
    "The URL accepts only the declared size and type. Then call POST /uploads/{uploadId}/complete.",
    tags=TAGS,
    responses={201: ok(UploadOut, "Created"), **errors(400, 409, 413, 415, 422)},
)
def create_upload(
    body: CreateUploadRequest,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        upload = FileService().create_upload(principal, body.filename, body.content_type, body.size_bytes)
        return MutationResponse(201, UploadOut.model_validate(upload).wire())

    return mutation(principal, info, "uploads.create", body.wire(), compute)


@router.post(
    "/uploads/<upload_id>/complete",
    summary="Confirm an upload: checks size and magic bytes, computes sha256, page count and encryption",
    tags=TAGS,
    responses={200: ok(FileOut), **errors(400, 404, 409, 410, 415, 422)},
)
def complete_upload(
    upload_id: str,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        file = FileService().complete_upload(principal, upload_id)
        return MutationResponse(200, FileOut.of(file).wire())

    return mutation(principal, info, "uploads.complete", {"uploadId": upload_id}, compute)


@router.post(
    "/files",
    summary="Upload a small file directly (multipart/form-data, field `file`, at most 4 MiB by default)",
    tags=TAGS,
    responses={201: ok(FileOut, "Created"), **errors(400, 409, 413, 415, 422)},
)
def upload_file(
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        filename, data = read_file_field(info.headers.get("content-type", ""), info.raw_body)
        file = FileService().upload_direct(principal, filename, data)
        return MutationResponse(201, FileOut.of(file).wire())

    # The body's hash stands in for the payload: same bytes, same request.
    return mutation(principal, info, "files.create", {"sha256": hashlib.sha256(info.raw_body).hexdigest()}, compute)


@router.get(
    "/files/<file_id>",
    summary="Read a file's metadata",
    tags=TAGS,
    responses={200: ok(FileOut), **errors(404)},
)
def get_file(file_id: str, principal: Annotated[Principal, Depends(current_principal)]) -> FileOut:
    return FileOut.of(FileService().get(principal, file_id))


@router.get(
    "/files/<file_id>/content",
    summary="Download a file: redirects (302) to a short-lived signed URL",
    tags=TAGS,
    responses={302: {"description": "Location holds the signed URL"}, **errors(404)},
)
def get_file_content(file_id: str, principal: Annotated[Principal, Depends(current_principal)]) -> Response[Any]:
    url = FileService().content_url(principal, file_id)
    return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"}, body="")


@router.delete(
    "/files/<file_id>",
    summary="Delete a file and its stored bytes",
    tags=TAGS,
    responses={200: ok(DeletedOut), **errors(404, 409, 422)},
)
def delete_file(
    file_id: str,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        FileService().delete(principal, file_id)
        return MutationResponse(200, DeletedOut(id=file_id, deleted=True).wire())

    return mutation(principal, info, "files.delete", {"id": file_id}, compute)
