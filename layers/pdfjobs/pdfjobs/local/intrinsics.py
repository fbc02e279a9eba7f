"""CloudFormation intrinsic functions, resolved against the local stack's deterministic addresses."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Protocol

from pdfjobs.local.template import TemplateError

NO_VALUE = "AWS::NoValue"
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class AddressBook(Protocol):
    """What Ref and Fn::GetAtt give for a resource of the stack."""

    def ref(self, logical_id: str) -> Any: ...

    def get_att(self, logical_id: str, attribute: str) -> Any: ...

    def has_resource(self, logical_id: str) -> bool: ...


class _Removed:
    """Marks a value that `!Ref AWS::NoValue` deleted, so its key or list item disappears."""


_REMOVED = _Removed()


class Intrinsics:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If (+ conditions), Fn::Select, Fn::Split,
    Fn::FindInMap and Fn::Base64 inside any value of the template."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo_parameters: Mapping[str, Any],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        resources: AddressBook,
    ) -> None:
        self._parameters = parameters
        self._pseudo = pseudo_parameters
        self._conditions = conditions
        self._mappings = mappings
        self._resources = resources

    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is _REMOVED else resolved

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return bool(self._evaluate_condition(self._conditions[name]))

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(v) for v in value) if item is not _REMOVED]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument) = next(iter(value.items()))
            if key == "Ref":
                return self._ref(self._resolve(argument))
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {k: self._resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _REMOVED}

    def _ref(self, name: str) -> Any:
        if name == NO_VALUE:
            return _REMOVED
        if name in self._parameters:
            return self._parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        if self._resources.has_resource(name):
            return self._resources.ref(name)
        raise TemplateError(f"Ref to unknown parameter or resource {name!r}")

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        logical_id, attribute = (self._resolve(part) for part in argument)
        if not self._resources.has_resource(logical_id):
            raise TemplateError(f"Fn::GetAtt on unknown resource {logical_id!r}")
        return self._resources.get_att(logical_id, attribute)

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            return self._get_att(argument)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            separator, items = argument
            return str(separator).join(str(item) for item in self._resolve(items))
        if name == "Fn::If":
            condition, if_true, if_false = argument
            return self._resolve(if_true if self.condition(condition) else if_false)
        if name == "Fn::Select":
            index, items = self._resolve(argument)
            return items[int(index)]
        if name == "Fn::Split":
            separator, text = self._resolve(argument)
            return str(text).split(separator)
        if name == "Fn::FindInMap":
            map_name, top_key, second_key = self._resolve(argument)
            return self._mappings[map_name][top_key][second_key]
        if name == "Fn::Base64":
            return base64.b64encode(str(self._resolve(argument)).encode()).decode()
        if name in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"}:
            return self._evaluate_condition({name: argument})
        raise TemplateError(f"{name} is not supported by the local runtime")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self._resolve(argument[1])
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            # `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                return str(self._get_att(expression))
            return str(self._ref(expression))

        return _SUB_VARIABLE.sub(substitute, str(text))

    def _evaluate_condition(self, expression: Any) -> bool:
        if isinstance(expression, bool):
            return expression
        if not isinstance(expression, dict) or len(expression) != 1:
            raise TemplateError(f"not a condition: {expression!r}")
        (name, argument) = next(iter(expression.items()))
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = (self._resolve(part) for part in argument)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self._evaluate_condition(argument[0])
        if name == "Fn::And":
            return all(self._evaluate_condition(part) for part in argument)
        if name == "Fn::Or":
            return any(self._evaluate_condition(part) for part in argument)
        raise TemplateError(f"{name} is not a condition function")
