"""Decision webhooks (admin): register a callback URL per organisation (secret shown once), list, remove, deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ...review import webhooks
from ...review.webhooks import DeliveryView, NewWebhook, WebhookInfo
from ..deps import Admin, DeskDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
WebhookId = Annotated[str, Path(max_length=64)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"org": "acme", "url": "https://broker.example/tariff/decisions"}]})

    org: str = Field(min_length=1, max_length=200, description="the organisation whose decisions are sent")
    url: str = Field(min_length=8, max_length=2000, description="http(s) URL receiving a signed POST per decision")


@router.post("", status_code=201, response_model=NewWebhook, responses=error_responses(400, 403, 413, 422),
             summary="Register a callback URL; the signing secret is shown only in this response")
def add_webhook(body: WebhookCreate, desk: DeskDep, principal: Admin) -> NewWebhook:
    """Each decision on the organisation's cases is POSTed as JSON with `X-Tariff-Signature: sha256=<hex HMAC-SHA256
    of the body with the secret>`; a non-2xx answer or a timeout is retried with back-off."""
    return webhooks.add(desk.db, principal, org=body.org, url=body.url)


@router.get("", response_model=list[WebhookInfo], responses=error_responses(403), summary="Registered webhooks")
def list_webhooks(desk: DeskDep, principal: Admin) -> list[WebhookInfo]:
    return webhooks.list_webhooks(desk.db, principal)


@router.delete("/{webhook_id}", response_model=WebhookInfo, responses=error_responses(403, 404, 422),
               summary="Remove a webhook (pending deliveries stop; past deliveries stay listed)")
def remove_webhook(webhook_id: WebhookId, desk: DeskDep, principal: Admin) -> WebhookInfo:
    return webhooks.remove(desk.db, principal, webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryView], responses=error_responses(403, 404, 422),
            summary="Deliveries of a webhook, newest first: status, attempts, last answer")
def list_deliveries(webhook_id: WebhookId, desk: DeskDep, principal: Admin,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryView]:
    return webhooks.deliveries(desk.db, principal, webhook_id, limit=limit)
