"""GET /engines: the engines, their availability (and why not), languages, formats and limits."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from pdfjobs.api.dependencies import current_principal
from pdfjobs.api.routers.responses import errors, ok
from pdfjobs.api.schemas import EngineList
from pdfjobs.records import Principal
from pdfjobs.services.engines import list_engines

router = APIGatewayRouter()


@router.get(
    "/engines",
    summary="Engines on this deployment: availability, languages, input formats and limits",
    tags=["Engines"],
    responses={200: ok(EngineList), **errors()},
)
def get_engines(principal: Annotated[Principal, Depends(current_principal)]) -> EngineList:
    return EngineList.model_validate({"engines": list_engines(principal)})
