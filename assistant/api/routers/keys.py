"""API keys (admin): create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from ... import auth
from ...auth import KeyInfo, NewKey, Role
from ..deps import Admin, DeskDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/keys", tags=["keys"])
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"  # no control chars, not blank


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    role: Role
    org: str | None = Field(default=None, max_length=200, pattern=PRINTABLE, description="required for brokers (they see their organisation's cases only)")


@router.post("", status_code=201, response_model=NewKey, responses=error_responses(400, 403, 413, 422),
             summary="Create a key; the response is the only time the key is shown")
def create_key(body: KeyCreate, desk: DeskDep, principal: Admin) -> NewKey:
    return auth.create_key(desk.db, name=body.name, role=body.role, org=body.org, actor=principal)


@router.get("", response_model=list[KeyInfo], responses=error_responses(403), summary="List keys (never the keys)")
def list_keys(desk: DeskDep, principal: Admin) -> list[KeyInfo]:
    return auth.list_keys(desk.db)


@router.delete("/{key_id}", response_model=KeyInfo, responses=error_responses(403, 404, 422), summary="Revoke a key")
def revoke_key(key_id: Annotated[str, Path(max_length=64)], desk: DeskDep, principal: Admin) -> KeyInfo:
    return auth.revoke_key(desk.db, key_id, actor=principal)
