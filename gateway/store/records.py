"""What the store keeps, as plain dataclasses (the API and the jobs build their views from these)."""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypedDict

from faxgw.gateway.domain import EventType, FaxStatus

#: SQLite's INTEGER is 64-bit: a LIMIT or OFFSET past it is an error there, so it is refused here.
_SQL_INT_MAX = 2**63 - 1


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant_id: str
    scopes: frozenset[str]  # "read", "edit"
    created_at: float


@dataclass(frozen=True)
class FileRecord:
    id: str
    tenant_id: str
    name: str  # the client's file name: shown, never used as a path
    mime_type: str
    size: int
    path: str  # where the gateway keeps it, under its data directory
    created_at: float


@dataclass
class FaxRecord:
    id: str
    tenant_id: str
    direction: str  # "outbound" | "inbound"
    from_number: str
    to_number: str
    status: FaxStatus
    created_at: float
    updated_at: float
    error_code: FaxStatus | None = None
    error_description: str | None = None
    pages_total: int | None = None
    pages_transferred: int = 0
    file_ids: list[str] = field(default_factory=list)
    document: str | None = None  # outbound: the TIFF-F to send; inbound: the TIFF being received
    remote_station_id: str | None = None
    t38: bool | None = None
    bit_rate: int | None = None
    ecm: bool | None = None
    resolution: str = "fine"
    request: dict[str, Any] = field(default_factory=dict)  # options, cover page, comment as submitted
    webhook_url: str | None = None
    webhook_format: str = "native"  # the envelope of this fax's own webhooks: native | telnyx
    send_at: float | None = None
    next_attempt_at: float | None = None
    attempts_made: int = 0
    first_page: int = 1  # a partially_sent retry resumes here
    lease_owner: str | None = None
    lease_until: float | None = None
    completed_at: float | None = None
    #: ``request["comment"]["text"]`` again ("" for none), as a column: listings sort by it
    #: (``FaxOrder.COMMENT``). The store derives it from the request.
    comment_text: str = ""

    @property
    def test(self) -> bool:
        """A test fax (``NewFax.test``): its states are simulated, nothing is dialled (``jobs.simulated``)."""
        return bool(self.request.get("test"))


class FaxOrder(enum.Enum):
    """What a listing is sorted by; the value is the column, fixed here."""

    CREATED = "created_at"
    UPDATED = "updated_at"
    FROM = "from_number"
    TO = "to_number"
    PAGES = "pages_transferred"
    COMMENT = "comment_text"


@dataclass(frozen=True)
class FaxQuery:
    """Which of a tenant's faxes a listing shows and which page of them: the store filters, sorts and
    pages in SQL, so a listing reads one page, whatever the tenant keeps.

    Every filter given must hold (None: not filtered). Ties in the order are broken by id, the same way.
    """

    direction: str | None = None  # "outbound" | "inbound"
    statuses: Collection[FaxStatus] | None = None  # only faxes in one of these
    exclude_statuses: Collection[FaxStatus] = ()  # none in these
    from_number: str | None = None
    to_number: str | None = None
    created_gt: float | None = None  # created_at > this (epoch seconds)
    created_gte: float | None = None
    created_lt: float | None = None
    created_lte: float | None = None
    order: FaxOrder = FaxOrder.CREATED
    descending: bool = True  # newest first
    limit: int | None = 50  # None: every one that matches
    offset: int = 0

    def __post_init__(self) -> None:
        if self.direction not in (None, "outbound", "inbound"):
            raise ValueError(f"direction must be outbound or inbound, not {self.direction!r}")
        if self.limit is not None and not 0 <= self.limit <= _SQL_INT_MAX:
            raise ValueError(f"limit must be 0 to {_SQL_INT_MAX}, not {self.limit}")
        if not 0 <= self.offset <= _SQL_INT_MAX:
            raise ValueError(f"offset must be 0 to {_SQL_INT_MAX}, not {self.offset}")
        for name in ("statuses", "exclude_statuses"):
            if isinstance(getattr(self, name), str):  # a str is a Collection of letters: surely a mistake
                raise TypeError(f"{name} takes a collection of statuses, not one string")


class FaxChanges(TypedDict, total=False):
    """What may change in a stored fax (``Store.update_fax``; ``updated_at`` follows by itself). Its keys are
    the columns the store writes: written here, never taken from a caller."""

    status: FaxStatus
    error_code: FaxStatus | None
    error_description: str | None
    pages_total: int | None
    pages_transferred: int
    document: str | None
    remote_station_id: str | None
    t38: bool | None
    bit_rate: int | None
    ecm: bool | None
    request: dict[str, Any]
    from_number: str  # the number of its pool an attempt calls from
    attempts_made: int
    next_attempt_at: float | None
    first_page: int
    lease_owner: str | None
    lease_until: float | None
    completed_at: float | None


@dataclass
class AttemptRecord:
    fax_id: str
    number: int
    started_at: float
    from_number: str | None = None
    ended_at: float | None = None
    status: FaxStatus | None = None  # how the attempt left its fax
    sip_code: int | None = None
    hangup_cause: str | None = None
    t30_code: int | None = None
    t30_text: str | None = None
    pages_sent: int = 0
    t38: bool | None = None
    call_id: str | None = None
    #: The routes it tried, in order: {"via", "sip_code", "reason", "failed_over"} (engines' LegResult).
    legs: list[dict[str, Any]] = field(default_factory=list)
    route: str | None = None  # the trunk (or device) that carried the call
    summary: str | None = None  # how it went, in one sentence
    #: What its call did step by step: ``sip.diagnostics.CallDiagnostics.to_dict()``, {} when none.
    diagnostics: dict[str, Any] = field(default_factory=dict)


class AttemptChanges(TypedDict, total=False):
    """What an attempt learns once it is stored (``Store.update_attempt``): how its call went."""

    ended_at: float | None
    status: FaxStatus | None
    sip_code: int | None
    hangup_cause: str | None
    t30_code: int | None
    t30_text: str | None
    pages_sent: int
    t38: bool | None
    call_id: str | None
    legs: list[dict[str, Any]]
    route: str | None
    summary: str | None
    diagnostics: dict[str, Any]


@dataclass(frozen=True)
class DeliveryProfile:
    """How to fax one destination through one trunk (or device) next time, as learned from the attempts
    before (``gateway.jobs.delivery``): kept per (destination, trunk) in ``delivery_profiles``."""

    t38: bool  # T.38 may be used; False: G.711 from the start (T.38 refused or failed to train there)
    ecm: bool
    max_rate: int  # bit/s cap: 4800, 9600 or 14400
    failures: int = 0  # attempts failed since the last success
    succeeded_at: float | None = None  # when the last success there was
    #: Why the profile last stepped down ("T.38 refused with 488", "training failed at 14400"); None: never.
    reason: str | None = None
    #: When it last stepped down: a step down older than ``learned_delivery_days`` is tried again.
    stepped_at: float | None = None


class Slot(NamedTuple):
    """One of ``limit`` places under ``name`` that calls hold across every node (``Store.take_slots``):
    ``from:+15550100``, ``to:+15550200``, ``trunk:carrier``."""

    name: str
    limit: int
    #: Not held by anyone, just counted until then (a trunk's calls per second); None: held by its taker.
    lapse: float | None = None


@dataclass(frozen=True)
class Subscription:
    """A tenant's standing webhook in one provider's envelope (Fax.Plus hooks, Dropbox's callback URL).

    It receives the events of every fax of the tenant, whichever API sent it.
    """

    id: str
    tenant_id: str
    format: str  # faxplus | dropbox
    url: str
    events: tuple[str, ...] = ()  # the provider's event names it wants; empty: all
    secret: str | None = None  # dropbox: the API key its event_hash is made with
    created_at: float = 0.0


@dataclass(frozen=True)
class EventRecord:
    seq: int
    id: str
    fax_id: str
    tenant_id: str
    type: EventType
    payload: dict[str, Any]
    created_at: float
    #: The seq of the fax's event before this one (0: it is the fax's first): a live listener that has not
    #: seen that one missed an event (another node's) and reads what it lacks (``gateway.jobs.events``).
    previous: int = 0
