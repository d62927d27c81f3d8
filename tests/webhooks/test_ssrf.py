"""The dispatcher under the address policy, against real receivers on 127.0.0.1 and 127.0.0.2.

The dispatcher of these tests allows 127.0.0.1 only (``RECEIVERS``, as ``webhook_allow`` would): 127.0.0.2
stands for every internal address a tenant must not reach (loopback, the LAN, 169.254.169.254).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest
from faxgw.gateway.webhooks import DeliveryStatus, DeliveryStore, Outcome, WebhookDispatcher, address_policy

from tests.helpers.webhooks import Receiver, Reply

Build = Callable[..., WebhookDispatcher]
REFUSED_127_0_0_2 = (
    "refused: 127.0.0.2 is a loopback address this gateway does not post webhooks to"
    " (allow it with webhook_allow)"
)


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names -> addresses for the running loop's getaddrinfo (other hosts as usual); "lookups" counts."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    names: dict[str, list[str]] = {"lookups": []}

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in names:
            return await real(host, port, **kwargs)
        names["lookups"].append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0)) for address in names[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return names


async def submit(dispatcher: WebhookDispatcher, url: str, event_id: str = "evt_1") -> None:
    await dispatcher.submit(event_id, "fax_1", "tenant_1", url, {"pages": 1}, event_type="delivered")


async def test_an_internal_target_is_refused_once_and_never_posted_to(
    inside: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    dispatcher = make_dispatcher(store)
    await submit(dispatcher, inside.url)
    await submit(dispatcher, "http://169.254.169.254/latest/meta-data/", "evt_2")
    await asyncio.sleep(0.2)  # FAST would have retried by now
    assert await dispatcher.deliver_due() == 0
    assert inside.requests == []
    log = await store.log_for_fax("fax_1")
    assert [(a.event_id, a.status_code, a.error, a.outcome) for a in log] == [
        ("evt_1", None, REFUSED_127_0_0_2, Outcome.FAILED),
        (
            "evt_2",
            None,
            "refused: 169.254.169.254 is a link-local address this gateway does not post webhooks to"
            " (allow it with webhook_allow)",
            Outcome.FAILED,
        ),
    ]
    assert {d.status for d in await store.deliveries_for_fax("fax_1")} == {DeliveryStatus.FAILED}


async def test_webhook_allow_and_deny(
    receiver: Receiver, inside: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    # An operator who delivers to its own network allows it; deny wins over allow.
    allowing = make_dispatcher(store, addresses=address_policy(allow=["127.0.0.0/8"], deny=["127.0.0.1/32"]))
    await submit(allowing, inside.url)
    await submit(allowing, receiver.url, "evt_2")
    assert len(inside.requests) == 1 and inside.requests[0].valid
    assert receiver.requests == []
    log = await store.log_for_fax("fax_1")
    assert [(a.status_code, a.outcome) for a in log] == [(200, Outcome.DELIVERED), (None, Outcome.FAILED)]
    assert log[1].error == "refused: 127.0.0.1 is inside webhook_deny 127.0.0.1/32"


async def test_the_operators_own_urls_are_trusted_but_not_past_deny(
    receiver: Receiver, inside: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    # A route's webhook_url from the config: posted to although no webhook_allow has its network...
    trusting = make_dispatcher(
        store, addresses=address_policy(deny=["127.0.0.1/32"]), trusted_urls={inside.url, receiver.url}
    )
    await submit(trusting, inside.url)
    assert len(inside.requests) == 1
    # ... except where webhook_deny says never; and a tenant's other URL on that host is not trusted.
    await submit(trusting, receiver.url, "evt_2")
    await submit(trusting, inside.url.replace("/hooks/fax", "/other"), "evt_3")
    assert receiver.requests == [] and len(inside.requests) == 1
    errors = [a.error for a in await store.log_for_fax("fax_1")]
    assert errors == [
        None,
        "refused: 127.0.0.1 is inside webhook_deny 127.0.0.1/32",
        REFUSED_127_0_0_2,
    ]


async def test_a_name_is_resolved_once_and_posted_to_at_the_checked_address(
    receiver: Receiver, inside: Receiver, store: DeliveryStore, make_dispatcher: Build, resolver: dict
) -> None:
    dispatcher = make_dispatcher(store)
    resolver["hooks.example"] = ["127.0.0.1"]
    await submit(dispatcher, f"http://hooks.example:{receiver.port}/hooks/fax")
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.example:{receiver.port}"  # the name kept, the address used
    assert resolver["lookups"] == ["hooks.example"]
    # The name now leads inside (DNS rebinding, or a URL given long ago): refused at the attempt.
    resolver["hooks.example"] = ["127.0.0.1", "127.0.0.2"]
    await submit(dispatcher, f"http://hooks.example:{inside.port}/hooks/fax", "evt_2")
    assert inside.requests == [] and len(receiver.requests) == 1
    attempt = (await store.log_for_fax("fax_1"))[1]
    assert attempt.error == (
        "refused: hooks.example resolves to 127.0.0.2, a loopback address this gateway does not post"
        " webhooks to (allow it with webhook_allow)"
    )
    assert attempt.outcome is Outcome.FAILED


async def test_the_log_keeps_our_reason_not_the_receivers_answer(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    receiver.script = [
        Reply(500, body=b"Traceback: password=hunter2 at db.internal:5432"),
        Reply(302, body=b"moved", headers=(("Location", "http://169.254.169.254/"),)),
    ]
    dispatcher = make_dispatcher(store)
    runner = asyncio.create_task(dispatcher.run())
    await submit(dispatcher, receiver.url)
    await receiver.wait_for(2)
    await asyncio.sleep(0.1)
    await dispatcher.stop()
    await runner
    log = await store.log_for_fax("fax_1")
    # The redirect is not followed: a 3xx is the receiver's set-up, not passing trouble.
    assert [(a.status_code, a.error, a.outcome) for a in log] == [
        (500, "HTTP 500", Outcome.RETRY),
        (302, "HTTP 302", Outcome.FAILED),
    ]
    assert len(receiver.requests) == 2
