"""The SAM template as the local runtime reads it: YAML with CloudFormation short tags, Globals applied.

Short tags become the long-form dicts CloudFormation itself sees (`!Ref X` -> `{"Ref": "X"}`), so
the rest of the runtime only ever deals with one shape.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FUNCTION_TYPE = "AWS::Serverless::Function"
API_TYPE = "AWS::Serverless::Api"


class TemplateError(Exception):
    """The template asks for something the local runtime cannot honour, or is inconsistent."""


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic tags."""


def _construct_short_tag(loader: _CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    # `!GetAtt A.B` is the one short form whose long form is a list, not the string itself.
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_template_file(path: Path) -> dict[str, Any]:
    """Parse a YAML (or JSON) template into plain dicts with long-form intrinsics."""
    with path.open(encoding="utf-8") as stream:
        body = yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources section)")
    return body


def merge_globals(global_value: Any, own_value: Any) -> Any:
    """SAM's Globals rule: maps merge (the resource wins), lists concatenate, scalars are replaced."""
    if isinstance(global_value, Mapping) and isinstance(own_value, Mapping):
        merged = dict(global_value)
        for key, value in own_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(own_value, list):
        return [*global_value, *own_value]
    return copy.deepcopy(own_value)


@dataclass(frozen=True)
class SamTemplate:
    """A loaded template: its path (relative paths in it are relative to its directory) and body."""

    path: Path
    body: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> SamTemplate:
        resolved = Path(path).resolve()
        if not resolved.is_file():
            raise TemplateError(f"template not found: {resolved}")
        return cls(path=resolved, body=load_template_file(resolved))

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("Parameters") or {})

    @property
    def conditions(self) -> dict[str, Any]:
        return dict(self.body.get("Conditions") or {})

    @property
    def mappings(self) -> dict[str, Any]:
        return dict(self.body.get("Mappings") or {})

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.body["Resources"])

    def resource_type(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"no resource {logical_id!r} in {self.path.name}")
        return str(resource.get("Type", ""))

    def logical_ids_of_type(self, resource_type: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res.get("Type") == resource_type]

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's Properties with the template's Globals for its type applied (SAM semantics)."""
        resource = self.resources[logical_id]
        own = dict(resource.get("Properties") or {})
        section = {FUNCTION_TYPE: "Function", API_TYPE: "Api"}.get(str(resource.get("Type")))
        if section is None:
            return own
        globals_for_type = (self.body.get("Globals") or {}).get(section) or {}
        return dict(merge_globals(dict(globals_for_type), own))
