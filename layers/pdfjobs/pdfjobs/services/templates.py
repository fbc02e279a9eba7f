"""Templates from the API's side: write (validated, patterns checked), read, list, delete, and the
lookup extraction jobs make at submit time."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pdfjobs import clock
from pdfjobs.errors import NotFound, TemplateConflict, TemplateExists, ValidationFailed, validation_failed
from pdfjobs.records import Principal, Scope, TemplateRecord
from pdfjobs.repositories.templates import TemplateRepository
from pdfjobs.services.auth import require
from pdfjobs.templates import BUILT_IN, TemplateBody, TemplateIn, built_in, check_patterns


class TemplateService:
    def __init__(self, templates: TemplateRepository | None = None) -> None:
        self.templates = templates or TemplateRepository()

    def create(self, principal: Principal, raw: dict[str, Any]) -> dict[str, Any]:
        require(principal, Scope.JOBS_WRITE)
        template = _parse(TemplateIn, raw)
        if template.name in BUILT_IN:
            raise TemplateExists(f"{template.name!r} is a built-in template; choose another name.")
        check_patterns(template)
        now = clock.now()
        record = TemplateRecord(
            tenant_id=principal.tenant_id,
            name=template.name,
            body=_body_of(template),
            created_at=now,
            updated_at=now,
        )
        if not self.templates.create(record):
            raise TemplateExists(
                f"A template named {template.name!r} exists; PUT /templates/{template.name} replaces it."
            )
        return _out(record)

    def replace(self, principal: Principal, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        require(principal, Scope.JOBS_WRITE)
        body = _parse(TemplateBody, raw)
        check_patterns(body)
        current = self._existing(principal, name)
        record = current.model_copy(
            update={"body": _body_of(body), "version": current.version + 1, "updated_at": clock.now()}
        )
        if not self.templates.replace(record, expected_version=current.version):
            raise TemplateConflict()
        return _out(record)

    def get(self, principal: Principal, name: str) -> dict[str, Any]:
        require(principal, Scope.JOBS_READ)
        body = built_in(name)
        if body is not None:
            return {"name": name, "builtIn": True, "version": 1, **_body_of(body), "createdAt": None, "updatedAt": None}
        return _out(self._existing(principal, name))

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        require(principal, Scope.JOBS_READ)
        shown = [self.get(principal, name) for name in sorted(BUILT_IN)]
        return shown + [_out(record) for record in sorted(self.templates.list(principal.tenant_id), key=_by_name)]

    def delete(self, principal: Principal, name: str) -> None:
        require(principal, Scope.JOBS_WRITE)
        if name in BUILT_IN or not self.templates.delete(principal.tenant_id, name):
            raise NotFound("No template with this name." if name not in BUILT_IN else "Built-in templates stay.")

    def resolve(self, principal: Principal, name: str) -> TemplateBody:
        """The template a job asks for by name: built in, or the tenant's own (404 naming the field)."""
        body = built_in(name)
        if body is not None:
            return body
        record = self.templates.get(principal.tenant_id, name)
        if record is None:
            raise NotFound(f"No template named {name!r}.", details={"field": "settings.templateName"})
        return TemplateBody.model_validate(record.body)

    def snapshot(self, principal: Principal, name: str, filter_name: str | None) -> dict[str, Any]:
        """A job's copy of the template it names (later edits do not change the job); checks the filter."""
        template = self.resolve(principal, name)
        if filter_name is not None and filter_name not in template.filters:
            raise ValidationFailed(
                f"Template {name!r} has no filter {filter_name!r}; "
                f"it has: {', '.join(sorted(template.filters)) or 'none'}.",
                details={"field": "settings.filterName"},
            )
        return {"name": name, **template.model_dump(by_alias=True, exclude_none=True)}

    def _existing(self, principal: Principal, name: str) -> TemplateRecord:
        record = self.templates.get(principal.tenant_id, name)
        if record is None:
            raise NotFound("No template with this name.")
        return record


def _parse(model: type[TemplateBody], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise validation_failed(error.errors()) from error


def _body_of(body: TemplateBody) -> dict[str, Any]:
    return body.model_dump(by_alias=True, exclude_none=True, exclude={"name"})


def _out(record: TemplateRecord) -> dict[str, Any]:
    body = TemplateBody.model_validate(record.body)  # numbers back from DynamoDB's Decimals
    return {
        "name": record.name,
        "builtIn": False,
        "version": int(record.version),
        **_body_of(body),
        "createdAt": clock.iso(record.created_at),
        "updatedAt": clock.iso(record.updated_at),
    }


def _by_name(record: TemplateRecord) -> str:
    return record.name
