"""The local runtime: PDF Jobs in one Python process, no Docker, no AWS account.

`python -m pdfjobs.local` serves the API; `pdfjobs.local.runtime.LocalRuntime` does the same from
code (tests, notebooks). Everything is built from template.yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdfjobs.local.runtime import LocalRuntime

__all__ = ["LocalRuntime"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing the package (or `python -m pdfjobs.local --help`) does not import moto.
    if name == "LocalRuntime":
        from pdfjobs.local.runtime import LocalRuntime

        return LocalRuntime
    raise AttributeError(name)
