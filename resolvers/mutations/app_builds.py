from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.api.documents.check import document_check
from bff.domain import documents
from resolvers.boundary import actor_of, returns_user_errors
from schema.app_build import AppBuild
from schema.inputs import AppBuildInput, RegisterAppBuildInput
from schema.payloads import AppBuildPayload


@returns_user_errors
async def register_app_build(
    info: Info,
    input: Annotated[RegisterAppBuildInput, strawberry.argument(description="The build.")],
) -> AppBuildPayload:
    """Register a build's manifest of trusted documents (admins)."""
    actor = actor_of(info)
    schema = info.schema
    # The schema's own gate and rules (bff.app): documents are held to what requests are.
    check = document_check(
        schema,
        getattr(schema, "document_rules", ()),
        schema.gate,  # type: ignore[attr-defined]
    )
    build = await documents.register_build(
        info.context.unit_of_work(),
        actor,
        input.app,
        input.version,
        input.manifest,
        check,
    )
    return AppBuildPayload(build=AppBuild.of(build))


@returns_user_errors
async def retire_app_build(
    info: Info, input: Annotated[AppBuildInput, strawberry.argument(description="The build.")]
) -> AppBuildPayload:
    """Stop serving a build's documents (admins)."""
    build = await documents.retire_build(
        info.context.unit_of_work(), actor_of(info), input.app, input.version
    )
    return AppBuildPayload(build=AppBuild.of(build))
