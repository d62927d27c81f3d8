"""Webhooks for fax events: signed, persisted before sending, retried with bounded back-off, logged.

The job layer calls ``WebhookDispatcher.submit()`` for each event and keeps ``run()`` going in the
background; receivers check requests with ``verify()`` and drop repeats by event id.
"""

from faxgw.gateway.webhooks import keys
from faxgw.gateway.webhooks.dispatcher import WebhookDispatcher, address_policy
from faxgw.gateway.webhooks.policy import RetryPolicy, is_retryable
from faxgw.gateway.webhooks.schema import event_body
from faxgw.gateway.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from faxgw.gateway.webhooks.store import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryStore,
    Outbox,
    Outcome,
    PendingDelivery,
)

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DeliveryStore",
    "Outbox",
    "Outcome",
    "PendingDelivery",
    "RetryPolicy",
    "WebhookDispatcher",
    "address_policy",
    "event_body",
    "is_retryable",
    "keys",
    "sign",
    "verify",
]
