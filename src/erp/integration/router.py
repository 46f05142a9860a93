from typing import Annotated, Any, Literal

from fastapi import Path, Request, Response, status
from sqlalchemy import literal_column, select

from erp import concurrency
from erp.auth import Admin
from erp.concurrency import IfMatchHeader, tagged
from erp.db import SessionDep, first_or_404
from erp.errors import InvalidTransition
from erp.idempotency import replayed_without
from erp.integration import webhooks
from erp.integration.models import WebhookDelivery, WebhookSubscription
from erp.integration.schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut
from erp.models import Event
from erp.openapi import errors
from erp.pagination import Cursor, Limit, Page, paginate
from erp.routing import router as make_router

router = make_router(tags=["webhooks"])

SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]

# The latest ten attempts of each delivery, newest first.
HISTORY = literal_column("""(
    SELECT coalesce(json_agg(json_build_object('at', a.created_at, 'status_code', a.status_code,
                                               'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.id DESC), '[]')
      FROM (SELECT * FROM webhook_attempt WHERE delivery_id = webhook_delivery.id ORDER BY id DESC LIMIT 10) a)""")
DELIVERIES = (select(WebhookDelivery.id, WebhookDelivery.event_id, Event.type.label("event_type"),
                     WebhookDelivery.subject, WebhookDelivery.status, WebhookDelivery.attempts,
                     WebhookDelivery.next_attempt_at, WebhookDelivery.last_status_code, WebhookDelivery.last_error,
                     WebhookDelivery.created_at, WebhookDelivery.delivered_at, HISTORY.label("history"))
              .join(Event, Event.id == WebhookDelivery.event_id))


def webhook_out(row: Any) -> WebhookOut:
    return WebhookOut.model_validate(row, from_attributes=True)


def delivery_out(row: Any) -> DeliveryOut:
    return DeliveryOut.model_validate(row._mapping)


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
@replayed_without("secret")
async def create_webhook(body: WebhookCreate, request: Request, actor: Admin, session: SessionDep,
                         response: Response) -> WebhookCreated:
    """Subscribe an endpoint to event types. Every event written from now on is delivered to it at least
    once, in order per subject, signed per Standard Webhooks with the secret answered here, once."""
    row, secret = await webhooks.create(session, request.app.state.settings, body.url, body.event_types,
                                        body.description, actor)
    return tagged(response, WebhookCreated(**webhook_out(row).model_dump(), secret=secret))


@router.get("/webhooks")
async def list_webhooks(actor: Admin, session: SessionDep, limit: Limit = 50,
                        cursor: Cursor = None) -> Page[WebhookOut]:
    query = select(WebhookSubscription).where(WebhookSubscription.deleted_at.is_(None))
    return await paginate(session, query, [WebhookSubscription.id], limit, cursor, lambda r: webhook_out(r[0]))


@router.get("/webhooks/{subscription_id}")
async def get_webhook(subscription_id: SubscriptionId, actor: Admin, session: SessionDep,
                      response: Response) -> WebhookOut:
    return tagged(response, webhook_out(await webhooks.get(session, subscription_id)))


@router.delete("/webhooks/{subscription_id}")
async def delete_webhook(subscription_id: SubscriptionId, actor: Admin, session: SessionDep, response: Response,
                         if_match: IfMatchHeader = None) -> WebhookOut:
    """Stop delivering to the endpoint; what was still waiting is dropped (marked failed)."""
    return tagged(response, webhook_out(await webhooks.delete(session, subscription_id,
                                                              concurrency.if_match(if_match))))


@router.get("/webhooks/{subscription_id}/deliveries")
async def list_deliveries(subscription_id: SubscriptionId, actor: Admin, session: SessionDep,
                          status: Literal["pending", "sending", "delivered", "failed"] | None = None,
                          limit: Limit = 50, cursor: Cursor = None) -> Page[DeliveryOut]:
    """Each delivery of an event to this endpoint: its state, its latest attempts (what the endpoint
    answered, or the error), its next try. Kept for a deleted subscription too."""
    await webhooks.get(session, subscription_id, deleted=True)
    query = DELIVERIES.where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return await paginate(session, query, [WebhookDelivery.id], limit, cursor, delivery_out)


@router.post("/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver", responses=errors(InvalidTransition))
async def redeliver(subscription_id: SubscriptionId, delivery_id: DeliveryId, actor: Admin,
                    session: SessionDep) -> DeliveryOut:
    """Send a delivery again (one that failed for good, or one the receiver lost), with a fresh retry window."""
    await webhooks.redeliver(session, subscription_id, delivery_id)
    return delivery_out(await first_or_404(session, DELIVERIES.where(WebhookDelivery.id == delivery_id),
                                           missing=f"No delivery {delivery_id}."))
