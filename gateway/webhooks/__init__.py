"""Webhooks for fax events: signed, persisted before sending, retried with bounded back-off, logged.

The job layer calls ``WebhookDispatcher.submit()`` for each event and keeps ``run()`` going in the
background; receivers check requests with ``verify()`` and drop repeats by event id.
"""

from gateway.webhooks import keys
from gateway.webhooks.dispatcher import WebhookDispatcher, address_policy
from gateway.webhooks.policy import RetryPolicy, is_retryable
from gateway.webhooks.schema import EVENT_TYPES, event_body
from gateway.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from gateway.webhooks.store import (
    WEBHOOK_FORMAT_SQL,
    WEBHOOK_TABLES_SQL,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryStore,
    Outcome,
    PendingDelivery,
    create_webhook_tables,
)

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WEBHOOK_FORMAT_SQL",
    "WEBHOOK_TABLES_SQL",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DeliveryStore",
    "Outcome",
    "PendingDelivery",
    "RetryPolicy",
    "WebhookDispatcher",
    "address_policy",
    "create_webhook_tables",
    "event_body",
    "is_retryable",
    "keys",
    "sign",
    "verify",
]
