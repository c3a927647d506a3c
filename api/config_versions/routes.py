"""Change management (scope ``admin``): every catalog and policy config the API and the
workers loaded, with who deployed it, the diff from the one before, and how many customers
a worker on it synced last."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import require_admin
from api.context import AppContext, get_context
from api.errors import not_found, problem_responses
from api.schemas import ListEnvelope
from services.config_versions import ConfigVersion, config_version, config_versions

router = APIRouter(
    prefix="/v1/admin/config-versions",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
)


class ConfigVersionView(BaseModel):
    hash: str = Field(description="SHA-256 of the canonical content (the TOML as sorted JSON)")
    deployed_by: str | None = Field(description="LIFECYCLE_DEPLOYED_BY of the first loader")
    loaded_at: datetime = Field(description="First loaded")
    last_loaded_at: datetime = Field(description="Last loaded by a starting API or worker")
    previous_hash: str | None = Field(description="The version that ran before this one")
    diff: str | None = Field(description="Unified diff of the canonical content from it")
    customers: int = Field(description="Customers a worker on this version synced last")
    current: bool = Field(description="The version loaded last")
    content: str | None = Field(default=None, description="The canonical content (one version)")


def _view(version: ConfigVersion) -> ConfigVersionView:
    return ConfigVersionView.model_validate(version, from_attributes=True)


@router.get("", response_model=ListEnvelope[ConfigVersionView])
async def list_config_versions(
    limit: int = Query(default=100, ge=1, le=500),
    context: AppContext = Depends(get_context),
) -> ListEnvelope[ConfigVersionView]:
    """Config versions, newest first, each with the diff from the one before."""
    return ListEnvelope(
        data=[_view(v) for v in await config_versions(context.sessions, limit=limit)]
    )


@router.get("/{version_hash}", response_model=ConfigVersionView, responses=problem_responses(404))
async def get_config_version(
    version_hash: str, context: AppContext = Depends(get_context)
) -> ConfigVersionView:
    """One version with its canonical content."""
    found = await config_version(context.sessions, version_hash)
    if found is None:
        raise not_found("config version", version_hash)
    return _view(found)
