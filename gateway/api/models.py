"""Bodies of the native REST API (``/v1/...``): requests as Fax.Plus's ``PayloadOutbox`` shapes them.

The seed (Fax.Plus "Send a fax" and "Fax") sets the field names, patterns, ranges and limits; a payload that
Fax.Plus accepts, we accept, and the other way round, except where a comment says why we are stricter.
Requests are strict: JSON ``"3"`` is not a retry count and ``"true"`` is not a boolean, as with the
provider's Go decoder.

Validation errors carry a ``type`` that ``errors.from_validation_errors`` turns into the response's code:
``too_many_files``, ``too_many_destinations`` and ``invalid_number_format`` come from here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from faxgw.gateway.api.errors import ApiErrorCode, quote
from faxgw.gateway.api.inputs import lone_surrogate
from faxgw.gateway.domain import FaxStatus
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

#: The seed's pattern for one fax number: E.164 with an optional extension after up to ten '*' (pauses).
E164 = r"^[+][0-9]{8,}([*]{0,10}[0-9]+)?$"
#: The seed's pattern for ``from``: a comma-separated pool of numbers, ``no_number`` for members without one.
FROM_POOL = (
    r"^(([+][0-9]{8,}([*]{0,10}[0-9]+)?)|(no_number)|(NO_NUMBER))"
    r"(,(([+][0-9]{8,}([*]{0,10}[0-9]+)?)|(no_number)|(NO_NUMBER)))*$"
)
NO_NUMBER = "no_number"
#: The seed's ``send_time`` format, "YYYY-MM-DD HH:mm:ss +HHMM". The seed's own pattern has ``[+|-]``, which
#: also lets '|' through; we take the sign only, and anchor the end.
SEND_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}$"

#: Seed ("Fax"): up to 10 files and 4000 destinations per fax, 150 MB of files in all.
MAX_FILES = 10
MAX_DESTINATIONS = 4000
MAX_TOTAL_UPLOAD_BYTES = 150 * 1024 * 1024
#: Seed ("Retries"): count 0-3, delay 0-180 seconds.
MAX_RETRY_COUNT = 3
MAX_RETRY_DELAY = 180

# Bounds of our own (the seed sets none): each is far above real use and keeps one field from costing more
# than a page of text to store, log or draw.
#: E.164 has at most 15 digits; the rest leaves room for pauses and an extension.
MAX_NUMBER_CHARS = 64
#: Same as gateway.documents.cover.MAX_FIELD_CHARS (a test keeps them equal): refuse here what the cover
#: sheet would refuse only once the fax is being prepared.
MAX_COVER_FIELD_CHARS = 200
MAX_COVER_MESSAGE_CHARS = 10_000
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_COMMENT_CHARS = 4096
MAX_URL_CHARS = 2048
#: What a webhook URL starts with, for OpenAPI (the URL is checked whole where it is read).
HTTP_URL_PATTERN = r"^https?://[^/?#\s]+"
#: File and fax ids are opaque tokens we hand out. No '/' and no leading '.', so a client-given id can never
#: become a path under the data directory (DESIGN: files are referenced by id, never by a client path).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

#: Cover sheet check boxes, as the seed's CoverPageFlags (and gateway.documents.cover.COVER_FLAGS) name them.
CoverPageFlag = Literal["urgent", "for_review", "please_reply", "confidential"]

_E164_RE = re.compile(E164)
_SEND_TIME_RE = re.compile(SEND_TIME_PATTERN)
_ID_RE = re.compile(ID_PATTERN)
#: Real UTC offsets run from -12:00 (Baker Island) to +14:00 (Line Islands).
_MIN_OFFSET = timedelta(hours=-12)
_MAX_OFFSET = timedelta(hours=14)


# --- field types -----------------------------------------------------------------------------------------
# Patterns are checked with re.fullmatch, not pydantic's pattern=: the error then names the problem in words
# and carries the API's code; json_schema_extra keeps the seed's pattern in the OpenAPI document.


def _text(value: str) -> str:
    # JSON can carry "\u0000" and lone surrogates ("\ud800"): neither survives PostgreSQL, UTF-8 or a log.
    if "\x00" in value:
        raise PydanticCustomError("invalid_text", "contains a NUL character")
    lone = lone_surrogate(value)
    if lone is not None:
        raise PydanticCustomError(
            "invalid_text", "is not valid Unicode (a lone surrogate, {lone})", {"lone": lone}
        )
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


def _fax_number(value: str) -> str:
    if len(value) > MAX_NUMBER_CHARS or not _E164_RE.fullmatch(value):
        raise PydanticCustomError(
            ApiErrorCode.INVALID_NUMBER_FORMAT.value,
            "{value} is not an E.164 fax number ('+', at least 8 digits, optionally '*'s and an extension)",
            {"value": quote(value)},
        )
    return value


def _from_pool(value: str) -> str:
    for position, entry in enumerate(value.split(","), start=1):
        if entry in (NO_NUMBER, NO_NUMBER.upper()):
            continue
        if len(entry) > MAX_NUMBER_CHARS or not _E164_RE.fullmatch(entry):
            raise PydanticCustomError(
                ApiErrorCode.INVALID_NUMBER_FORMAT.value,
                "entry {position} of the pool, {value}, is neither an E.164 fax number nor no_number"
                " (give comma-separated numbers without spaces)",
                {"position": position, "value": quote(entry)},
            )
    return value


def _identifier(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise PydanticCustomError("invalid_id", "{value} is not an id", {"value": quote(value)})
    return value


def _at_most(limit: int, code: ApiErrorCode, noun: str, advice: str) -> BeforeValidator:
    """A length limit checked before the items, with the seed's code: 4001 destinations is the problem
    whatever else is wrong with them, and we need not validate all of them to say so."""

    def check(value: Any) -> Any:
        if isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError(
                code.value,
                "{count} {noun}, at most {limit} {advice}",
                {"count": len(value), "noun": noun, "limit": limit, "advice": advice},
            )
        return value

    return BeforeValidator(check)


def _distinct(values: list[str]) -> list[str]:
    # One fax per destination: SendFaxResponse.ids maps each destination to its fax, so a repeat is one fax.
    return list(dict.fromkeys(values))


def _utc(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise PydanticCustomError("naive_datetime", "needs a time zone")
    return value.astimezone(UTC)


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _http_url(value: str) -> str:
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        raise PydanticCustomError("url", "{reason}", {"reason": exc.errors()[0]["msg"]}) from None
    return value


CommentText = Annotated[str, Field(max_length=MAX_COMMENT_CHARS), AfterValidator(_text)]
Tag = Annotated[str, Field(max_length=MAX_TAG_CHARS), AfterValidator(_text)]
CoverMessage = Annotated[str, Field(max_length=MAX_COVER_MESSAGE_CHARS), AfterValidator(_text)]
FaxNumber = Annotated[
    str,
    AfterValidator(_fax_number),
    Field(json_schema_extra={"pattern": E164, "maxLength": MAX_NUMBER_CHARS}, examples=["+41782222222"]),
]
FromPool = Annotated[
    str,
    AfterValidator(_from_pool),
    Field(json_schema_extra={"pattern": FROM_POOL}, examples=["+41782222222,+41782222333"]),
]
Identifier = Annotated[str, AfterValidator(_identifier), Field(json_schema_extra={"pattern": ID_PATTERN})]
CoverField = Annotated[
    str, Field(max_length=MAX_COVER_FIELD_CHARS), AfterValidator(_text), AfterValidator(_not_blank)
]
#: An aware datetime, kept in UTC and written as ISO 8601 with a Z ("2026-03-01T09:30:00Z").
Timestamp = Annotated[
    datetime, AfterValidator(_utc), PlainSerializer(_iso_utc, return_type=str, when_used="json")
]


def parse_send_time(value: str) -> datetime:
    """The seed's "YYYY-MM-DD HH:mm:ss +HHMM" as an aware UTC datetime.

    Raises ValueError for another format, an impossible date (2026-02-30) or an offset no zone uses.
    """
    if not _SEND_TIME_RE.fullmatch(value):
        raise ValueError(f"{quote(value)} is not in the format 'YYYY-MM-DD HH:mm:ss +HHMM'")
    try:
        if int(value[-2:]) > 59:  # fromisoformat would carry +0160 over to +0200
            raise ValueError
        # The format is checked: without the space before the offset it is ISO 8601, which fromisoformat
        # reads natively (strptime, matching its own regex, was a few percent of a POST's time).
        local = datetime.fromisoformat(value[:19] + value[20:])
    except ValueError:
        raise ValueError(f"{quote(value)} is not a real date and time") from None
    offset = local.utcoffset()
    if offset is None or not _MIN_OFFSET <= offset <= _MAX_OFFSET:
        raise ValueError(f"{quote(value)} has a UTC offset outside -1200..+1400")
    try:
        return local.astimezone(UTC)
    except OverflowError:  # 0001-01-01 00:00:00 +0100 is in year 0 in UTC
        raise ValueError(f"{quote(value)} is outside the years 1-9999 in UTC") from None


def _send_time(value: str) -> str:
    try:
        parse_send_time(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_send_time", "{reason}", {"reason": str(exc)}) from None
    return value


SendTime = Annotated[
    str,
    AfterValidator(_send_time),
    Field(json_schema_extra={"pattern": SEND_TIME_PATTERN}, examples=["2026-03-01 09:30:00 +0100"]),
]
WebhookUrl = Annotated[
    str,
    Field(max_length=MAX_URL_CHARS, json_schema_extra={"pattern": HTTP_URL_PATTERN}),
    AfterValidator(_text),
    AfterValidator(_http_url),
]


# --- requests --------------------------------------------------------------------------------------------


class _Request(BaseModel):
    # extra="forbid": the seed's additionalProperties: false. populate_by_name lets Python code write from_=.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, strict=True, frozen=True
    )


class RetryOptions(_Request):
    #: Tries after the first one (seed: "Number of tries to send the fax", 0-3).
    count: int = Field(default=0, ge=0, le=MAX_RETRY_COUNT)
    #: Seconds between two tries.
    delay: int = Field(default=0, ge=0, le=MAX_RETRY_DELAY)


class OutboxOptions(_Request):
    #: Optimise the document for text; turn off to resend a fax image untouched.
    enhancement: bool = True
    retry: RetryOptions = Field(default_factory=RetryOptions)
    #: A retry resumes after the last page that went across instead of starting again at page 1.
    partially_sent_retry: bool = False


class CoverPage(_Request):
    name_to: CoverField
    name_from: CoverField
    subject: CoverField
    message: CoverMessage = ""
    flags: list[CoverPageFlag] = Field(default_factory=list, max_length=4)
    #: The seed silently ignores this when the account has no logo; so do we.
    include_company_logo: bool = False


class Comment(_Request):
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    text: CommentText = ""


class FromFax(_Request):
    """An existing fax whose image is sent again (resend, forward), after any ``files``."""

    fax_id: Identifier
    #: Whose fax it is: "self", or a member id for a corporate admin.
    user_id: Identifier = "self"


class SendFaxRequest(_Request):
    """``POST /v1/faxes``: one fax to each destination in ``to``."""

    from_: FromPool = Field(alias="from")
    to: Annotated[
        list[FaxNumber],
        _at_most(
            MAX_DESTINATIONS, ApiErrorCode.TOO_MANY_DESTINATIONS, "destinations", "per request; split them"
        ),
        Field(min_length=1, max_length=MAX_DESTINATIONS),
        AfterValidator(_distinct),
    ]
    #: Ids from POST /v1/files, sent in this order; the same file may appear twice.
    files: Annotated[
        list[Identifier],
        _at_most(MAX_FILES, ApiErrorCode.TOO_MANY_FILES, "files", "per fax"),
        Field(max_length=MAX_FILES),
    ] = Field(default_factory=list)
    from_fax: FromFax | None = None
    comment: Comment = Field(default_factory=Comment)
    options: OutboxOptions = Field(default_factory=OutboxOptions)
    #: When to send, in the sender's local time; absent or in the past means now.
    send_time: SendTime | None = None
    #: Answer with the destination -> fax id mapping.
    return_ids: bool = False
    #: The seed allows fine and superfine only (standard is for received faxes).
    resolution: Literal["fine", "superfine"] = "fine"
    cover_page: CoverPage | None = None
    #: Where this fax's events are posted (overrides the account's webhook).
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="after")
    def _something_to_send(self) -> SendFaxRequest:
        if not self.files and self.from_fax is None:
            # Seed: files are "Required unless from_fax is provided" and the other way round.
            raise PydanticCustomError(
                "nothing_to_send", "give files (ids from POST /v1/files), from_fax, or both"
            )
        return self

    @property
    def from_numbers(self) -> list[str]:
        """The pool to pick a caller number from, each once, with NO_NUMBER written as ``no_number``."""
        entries = (NO_NUMBER if entry == NO_NUMBER.upper() else entry for entry in self.from_.split(","))
        return list(dict.fromkeys(entries))

    @property
    def send_at(self) -> datetime | None:
        """``send_time`` as an aware UTC datetime, or None to send now."""
        return None if self.send_time is None else parse_send_time(self.send_time)


# --- responses -------------------------------------------------------------------------------------------


class ResponseModel(BaseModel):
    # Built by our own code: extra="forbid" turns a misspelt field into a test failure, not a silent drop.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class SendFaxResponse(ResponseModel):
    #: Destination -> fax id, when the request asked for return_ids (seed: SendFaxResponse).
    ids: dict[str, str] | None = None


def _fax_status(value: str) -> FaxStatus:
    try:
        return FaxStatus(value)
    except ValueError:
        raise PydanticCustomError(
            "fax_status", "{value} is not a fax status", {"value": quote(value)}
        ) from None


#: A fax status in a request or a response: a string on the wire and in the OpenAPI document (an enum's
#: schema would list the fixed statuses only, and ``failed_fs_<n>`` completes them with any T.30 code),
#: read as the domain's ``FaxStatus``.
FaxStatusValue = Annotated[str, AfterValidator(_fax_status)]


class FaxError(ResponseModel):
    code: FaxStatusValue  # the failed_* status (partially_* for a fax that lost pages)
    description: str


class PageCount(ResponseModel):
    #: Pages in the document (outbound, once prepared); for an inbound fax, known when it ends.
    total: int | None = Field(default=None, ge=0)
    transferred: int = Field(default=0, ge=0)


class FaxLeg(ResponseModel):
    """One route an attempt tried (a trunk, or the device the number belongs to) and what came of it."""

    via: str  # the trunk's name, or the device's username
    #: The final response to its INVITE; None: no response came, or no INVITE was sent (see reason).
    sip_code: int | None = Field(default=None, ge=100, le=699)
    #: In words: "503 Service Unavailable", "no response", "down (no answer to OPTIONS)", "at max_calls (2)",
    #: "not registered", "answered".
    reason: str
    #: It failed as a trunk (or could not be used), and the next route was tried.
    failed_over: bool


class FaxAttempt(ResponseModel):
    """One call made for an outbound fax (the first, then each retry)."""

    n: int = Field(ge=1)
    started_at: Timestamp
    ended_at: Timestamp | None = None
    status: FaxStatusValue
    #: The SIP final response to our INVITE (200 when answered, 486 busy, ...).
    sip_code: int | None = Field(default=None, ge=100, le=699)
    #: How the call ended as the engine tells it: remote_bye, no_answer, session_expired, ...
    hangup_cause: str | None = None
    #: T.30 completion code and text (0 "OK"); None when the call never reached T.30.
    t30_code: int | None = None
    t30_text: str | None = None
    pages_sent: int = Field(default=0, ge=0)
    #: The SIP Call-ID, to find the call in the gateway's logs and packet captures.
    call_id: str | None = None
    #: The trunk (or device) whose call reached the callee; None when no route did.
    route: str | None = None
    #: Each route the attempt tried, in order (failover): the last one carried the call if any did.
    legs: list[FaxLeg] = Field(default_factory=list)
    #: How the attempt went, in one sentence: "503 on trunk a; T.38 refused with 488 on trunk b; G.711 at 9600
    #: succeeded" (and where it went otherwise than its trunk's settings say because of an earlier attempt,
    #: why). None while the call is on, and for attempts made before the gateway told them.
    summary: str | None = None


class FaxOrigin(ResponseModel):
    """Where an outbound fax came from when no API client submitted it: a device's fax machine called a
    number outside its tenant, and the gateway received the fax to send it on."""

    device: str  # the device's username
    relay: Literal["store_and_forward", "real_time"]
    #: The caller the device's call gave (its From user) and its SIP Call-ID.
    caller: str
    call_id: str


class FaxObject(ResponseModel):
    """``GET /v1/faxes/{id}``: one fax, outbound or inbound, with every attempt."""

    id: str
    direction: Literal["outbound", "inbound"]
    #: The caller's number: ours for outbound, the remote's (as the network gave it) for inbound.
    from_: str = Field(alias="from")
    to: str
    status: FaxStatusValue
    error: FaxError | None = None
    pages: PageCount = Field(default_factory=PageCount)
    files: list[str] = Field(default_factory=list)
    #: The remote fax machine's T.30 ident (TSI or CSI), up to 20 characters.
    remote_station_id: str | None = None
    #: Whether the call carried T.38 (False: G.711 passthrough); None before a call was up.
    t38: bool | None = None
    bit_rate: int | None = None
    ecm: bool | None = None
    resolution: Literal["standard", "fine", "superfine"] | None = None
    attempts: list[FaxAttempt] = Field(default_factory=list)
    comment: Comment = Field(default_factory=Comment)
    #: When a scheduled fax is due (the request's send_time, in UTC).
    send_at: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None = None
    #: Set when a device sent this fax through the gateway (None: submitted through the API).
    origin: FaxOrigin | None = None

    @model_validator(mode="after")
    def _success_means_every_page(self) -> FaxObject:
        # DESIGN: never report success when fewer pages went across than the document has.
        if self.status == FaxStatus.SUCCESS:
            if self.pages.total is None or self.pages.transferred < self.pages.total:
                raise ValueError(
                    f"success with {self.pages.transferred} of {self.pages.total} pages transferred"
                )
            if self.error is not None:
                raise ValueError("success with an error")
        return self


class FaxList(ResponseModel):
    faxes: list[FaxObject]
    total: int = Field(ge=0)
    limit: int = Field(ge=0)
    offset: int = Field(ge=0)


class FileObject(ResponseModel):
    """An uploaded file (``POST /v1/files``), referenced by ``id`` in ``SendFaxRequest.files``."""

    id: str
    name: str
    size: int = Field(ge=0)
    mime_type: str
    #: Pages once the file has been converted (None until then, or for a file that has none yet).
    pages: int | None = Field(default=None, ge=0)
    created_at: Timestamp
