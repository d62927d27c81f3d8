"""The native API's bodies: the seed's payloads, patterns, ranges and limits, and the fax status set."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta, timezone

import pytest
from faxgw.gateway.api.models import (
    MAX_COVER_FIELD_CHARS,
    MAX_DESTINATIONS,
    MAX_FILES,
    MAX_TOTAL_UPLOAD_BYTES,
    CoverPageFlag,
    FaxAttempt,
    FaxList,
    FaxObject,
    FileObject,
    SendFaxRequest,
    SendFaxResponse,
    parse_send_time,
)
from faxgw.gateway.documents.cover import COVER_FLAGS, MAX_FIELD_CHARS
from faxgw.gateway.domain import FaxStatus
from pydantic import ValidationError

#: The seed's PayloadOutbox example, as sent.
SEED_EXAMPLE = {
    "comment": {"tags": ["tag1", "tag2"], "text": "text comment"},
    "files": ["filetosend.pdf"],
    "from": "+12345667",
    "options": {"enhancement": True, "retry": {"count": 2, "delay": 15}},
    "send_time": "2000-01-01 01:02:03 +0000",
    "to": ["+12345688", "+12345699"],
    "return_ids": True,
}
MINIMAL = {"from": "+41782222222", "to": ["+12025559876"], "files": ["f1"]}


def errors_of(payload: dict) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        SendFaxRequest.model_validate(payload)
    return caught.value.errors()


def only_error(payload: dict) -> dict:
    errors = errors_of(payload)
    assert len(errors) == 1, errors
    return errors[0]


# --- valid payloads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        SEED_EXAMPLE,
        {"from": "+12345667", "to": ["+12025559876"], "from_fax": {"fax_id": "abc123def456"}},
        {
            "from": "+41782222222",
            "to": ["+12345688"],
            "files": ["cover-letter.pdf"],
            "from_fax": {"fax_id": "abc123def456", "user_id": "self"},
            "options": {"enhancement": False},
        },
        {
            "from": "+41782222222,+41782222333,no_number",
            "to": ["+41782222444**12"],
            "files": ["a", "a"],
            "comment": {"tags": [], "text": ""},
            "options": {
                "enhancement": True,
                "retry": {"count": 3, "delay": 180},
                "partially_sent_retry": True,
            },
            "send_time": "2026-03-01 09:30:00 -0530",
            "return_ids": False,
            "resolution": "superfine",
            "cover_page": {
                "name_to": "Dr. Smith",
                "name_from": "Clinic",
                "subject": "Results",
                "message": "Please call back.\nThanks.",
                "flags": ["urgent", "please_reply"],
                "include_company_logo": True,
            },
            "webhook_url": "https://hooks.example.com/fax?token=x",
        },
    ],
    ids=["seed_example", "resend", "combined", "everything"],
)
def test_valid_payloads_round_trip(payload: dict) -> None:
    request = SendFaxRequest.model_validate(payload)
    assert request.model_dump(exclude_unset=True) == payload
    assert json.loads(request.model_dump_json(exclude_unset=True)) == payload
    assert SendFaxRequest.model_validate_json(request.model_dump_json()) == request


def test_defaults_follow_the_seed() -> None:
    request = SendFaxRequest.model_validate(MINIMAL)
    assert request.options.enhancement is True
    assert (request.options.retry.count, request.options.retry.delay) == (0, 0)
    assert request.options.partially_sent_retry is False
    assert request.resolution == "fine"
    assert request.return_ids is False
    assert request.comment.tags == [] and request.comment.text == ""
    assert request.from_fax is None and request.cover_page is None and request.send_time is None
    assert request.send_at is None
    dumped = request.model_dump()
    assert "from" in dumped and "from_" not in dumped


def test_python_code_may_use_the_field_name() -> None:
    request = SendFaxRequest(from_="+41782222222", to=["+12025559876"], files=["f1"])
    assert request.from_ == "+41782222222"


def test_requests_are_immutable() -> None:
    request = SendFaxRequest.model_validate(MINIMAL)
    with pytest.raises(ValidationError):
        request.return_ids = True  # type: ignore[misc]


# --- limits -----------------------------------------------------------------------------------------------


def test_limits_are_the_seeds() -> None:
    assert (MAX_FILES, MAX_DESTINATIONS, MAX_TOTAL_UPLOAD_BYTES) == (10, 4000, 150 * 1024 * 1024)


def test_ten_files_are_fine_eleven_are_too_many() -> None:
    assert len(SendFaxRequest.model_validate({**MINIMAL, "files": ["f"] * 10}).files) == 10
    error = only_error({**MINIMAL, "files": [f"f{n}" for n in range(11)]})
    assert error["type"] == "too_many_files"
    assert error["loc"] == ("files",)
    assert "11 files, at most 10" in error["msg"]


def test_too_many_files_is_reported_before_looking_at_them() -> None:
    error = only_error({**MINIMAL, "files": ["../bad"] * 11})
    assert error["type"] == "too_many_files"


def test_4000_destinations_are_fine_4001_are_too_many() -> None:
    numbers = [f"+1202555{n:05d}" for n in range(4001)]
    assert len(SendFaxRequest.model_validate({**MINIMAL, "to": numbers[:4000]}).to) == 4000
    error = only_error({**MINIMAL, "to": numbers})
    assert error["type"] == "too_many_destinations"
    assert "4001 destinations, at most 4000" in error["msg"]


def test_to_needs_a_destination() -> None:
    assert only_error({**MINIMAL, "to": []})["type"] == "too_short"
    assert only_error({key: value for key, value in MINIMAL.items() if key != "to"})["type"] == "missing"


def test_repeated_destinations_make_one_fax_each() -> None:
    request = SendFaxRequest.model_validate(
        {**MINIMAL, "to": ["+12025559876", "+441234567890", "+12025559876"]}
    )
    assert request.to == ["+12025559876", "+441234567890"]


# --- numbers ----------------------------------------------------------------------------------------------

GOOD_NUMBERS = ["+12345678", "+41782222222", "+41782222222**12", "+12345678" + "*" * 10 + "9", "+123456789*1"]
BAD_NUMBERS = [
    "+1234567",  # 7 digits
    "12345678901",  # no '+'
    "+1 202 555 9876",
    "+1-202-555-9876",
    "+12345678*",  # pauses without an extension
    "+12345678" + "*" * 11 + "9",  # more than ten pauses
    "+12345678\n",  # '$' alone would let a trailing newline through
    "+\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",  # Arabic-Indic digits: \d would match them
    "+" + "1" * 64,
    "",
    "no_number",  # only the sender may be no_number
]


@pytest.mark.parametrize("number", GOOD_NUMBERS)
def test_good_destination_numbers(number: str) -> None:
    assert SendFaxRequest.model_validate({**MINIMAL, "to": [number]}).to == [number]


@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_bad_destination_numbers(number: str) -> None:
    error = only_error({**MINIMAL, "to": ["+12025559876", number]})
    assert error["type"] == "invalid_number_format"
    assert error["loc"] == ("to", 1)
    assert "is not an E.164 fax number" in error["msg"]


def test_a_number_must_be_a_json_string() -> None:
    assert only_error({**MINIMAL, "to": [12025559876]})["type"] == "string_type"


@pytest.mark.parametrize(
    ("pool", "numbers"),
    [
        ("+41782222222", ["+41782222222"]),
        ("no_number", ["no_number"]),
        ("NO_NUMBER", ["no_number"]),
        ("+41782222222,+41782222333,+41782222444", ["+41782222222", "+41782222333", "+41782222444"]),
        ("+41782222222,NO_NUMBER,+41782222222,no_number", ["+41782222222", "no_number"]),
    ],
)
def test_from_pool(pool: str, numbers: list[str]) -> None:
    request = SendFaxRequest.model_validate({**MINIMAL, "from": pool})
    assert request.from_ == pool
    assert request.from_numbers == numbers


@pytest.mark.parametrize(
    "pool",
    [
        "",
        "+41782222222,",
        ",+41782222222",
        "+41782222222, +41782222333",
        "+4178",
        "No_Number",
        "+41782222222;+4178",
    ],
)
def test_bad_from_pool(pool: str) -> None:
    error = only_error({**MINIMAL, "from": pool})
    assert error["type"] == "invalid_number_format"
    assert error["loc"] == ("from",)
    assert "of the pool" in error["msg"]


def test_from_is_required() -> None:
    error = only_error({key: value for key, value in MINIMAL.items() if key != "from"})
    assert (error["type"], error["loc"]) == ("missing", ("from",))


# --- options ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry", "field", "kind"),
    [
        ({"count": -1}, "count", "greater_than_equal"),
        ({"count": 4}, "count", "less_than_equal"),
        ({"delay": -1}, "delay", "greater_than_equal"),
        ({"delay": 181}, "delay", "less_than_equal"),
        ({"count": "3"}, "count", "int_type"),
        ({"count": True}, "count", "int_type"),
        ({"count": 1.0}, "count", "int_type"),
    ],
)
def test_retry_ranges(retry: dict, field: str, kind: str) -> None:
    error = only_error({**MINIMAL, "options": {"retry": retry}})
    assert (error["type"], error["loc"]) == (kind, ("options", "retry", field))


def test_retry_bounds_are_allowed() -> None:
    for count, delay in ((0, 0), (3, 180)):
        request = SendFaxRequest.model_validate(
            {**MINIMAL, "options": {"retry": {"count": count, "delay": delay}}}
        )
        assert (request.options.retry.count, request.options.retry.delay) == (count, delay)


def test_booleans_are_json_booleans() -> None:
    assert only_error({**MINIMAL, "return_ids": "true"})["type"] == "bool_type"
    assert only_error({**MINIMAL, "options": {"enhancement": 1}})["type"] == "bool_type"


def test_resolution_is_fine_or_superfine() -> None:
    assert only_error({**MINIMAL, "resolution": "standard"})["type"] == "literal_error"


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({**MINIMAL, "bogus": 1}, ("bogus",)),
        ({**MINIMAL, "from_number": "+41782222222"}, ("from_number",)),
        ({**MINIMAL, "options": {"retry": {"count": 1, "tries": 2}}}, ("options", "retry", "tries")),
        ({**MINIMAL, "options": {"enhance": True}}, ("options", "enhance")),
        ({**MINIMAL, "comment": {"txt": "x"}}, ("comment", "txt")),
        ({**MINIMAL, "from_fax": {"fax_id": "a", "x": 1}}, ("from_fax", "x")),
    ],
)
def test_unknown_fields_are_rejected(payload: dict, loc: tuple) -> None:
    error = only_error(payload)
    assert (error["type"], error["loc"]) == ("extra_forbidden", loc)


# --- files and from_fax -----------------------------------------------------------------------------------


def test_something_to_send() -> None:
    for payload in (
        {**MINIMAL, "files": []},
        {key: value for key, value in MINIMAL.items() if key != "files"},
    ):
        error = only_error(payload)
        assert error["type"] == "nothing_to_send"
        assert "files" in error["msg"] and "from_fax" in error["msg"]
    request = SendFaxRequest.model_validate({**MINIMAL, "files": [], "from_fax": {"fax_id": "abc123"}})
    assert request.from_fax is not None and request.from_fax.user_id == "self"


@pytest.mark.parametrize("file_id", ["../etc/passwd", "/etc/passwd", ".hidden", "a/b", "", "a" * 129, "a b"])
def test_file_ids_can_never_be_paths(file_id: str) -> None:
    error = only_error({**MINIMAL, "files": [file_id]})
    assert (error["type"], error["loc"]) == ("invalid_id", ("files", 0))


def test_from_fax_needs_an_id() -> None:
    error = only_error({**MINIMAL, "from_fax": {"user_id": "self"}})
    assert (error["type"], error["loc"]) == ("missing", ("from_fax", "fax_id"))


# --- send_time --------------------------------------------------------------------------------------------


def test_send_time_in_utc() -> None:
    request = SendFaxRequest.model_validate({**MINIMAL, "send_time": "2026-03-01 09:30:00 +0100"})
    assert request.send_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert request.send_at.tzinfo is UTC
    assert parse_send_time("2024-02-29 23:59:59 -1200") == datetime(2024, 3, 1, 11, 59, 59, tzinfo=UTC)
    assert parse_send_time("2026-01-01 00:00:00 +1400") == datetime(2025, 12, 31, 10, 0, tzinfo=UTC)


def test_send_time_in_the_past_means_now() -> None:
    # The seed's own example is in 2000: the model keeps it, the scheduler sends at once.
    request = SendFaxRequest.model_validate({**MINIMAL, "send_time": "2000-01-01 01:02:03 +0000"})
    assert request.send_at == datetime(2000, 1, 1, 1, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T09:30:00Z",
        "2026-03-01T09:30:00+01:00",
        "2026-03-01 09:30:00",
        "2026-03-01 09:30 +0100",
        "2026-3-1 09:30:00 +0100",
        "2026-03-01 09:30:00 |0100",  # the seed's [+|-] would allow it
        "2026-03-01 09:30:00 +01:00",
        "2026-03-01 09:30:00 +0100\n",
        "2026-03-01 09:30:00 +0100 extra",
        "\u0662026-03-01 09:30:00 +0100",
        "",
    ],
)
def test_send_time_wrong_format(value: str) -> None:
    error = only_error({**MINIMAL, "send_time": value})
    assert (error["type"], error["loc"]) == ("invalid_send_time", ("send_time",))
    assert "YYYY-MM-DD HH:mm:ss +HHMM" in error["msg"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-02-30 10:00:00 +0000", "not a real date"),
        ("2025-02-29 10:00:00 +0000", "not a real date"),
        ("2026-13-01 10:00:00 +0000", "not a real date"),
        ("2026-04-31 10:00:00 +0000", "not a real date"),
        ("2026-01-01 24:00:00 +0000", "not a real date"),
        ("2026-01-01 10:60:00 +0000", "not a real date"),
        ("0000-01-01 10:00:00 +0000", "not a real date"),
        ("2026-01-01 10:00:00 +0060", "not a real date"),
        ("2026-01-01 10:00:00 +1500", "offset"),
        ("2026-01-01 10:00:00 -1300", "offset"),
        ("0001-01-01 00:00:00 +0100", "outside the years"),
        ("9999-12-31 23:00:00 -0200", "outside the years"),
    ],
)
def test_send_time_impossible(value: str, reason: str) -> None:
    error = only_error({**MINIMAL, "send_time": value})
    assert error["type"] == "invalid_send_time"
    assert reason in error["msg"]
    with pytest.raises(ValueError, match=reason):
        parse_send_time(value)


# --- cover page, comment, webhook -------------------------------------------------------------------------

COVER = {"name_to": "Dr. Smith", "name_from": "Clinic", "subject": "Results"}


@pytest.mark.parametrize("field", ["name_to", "name_from", "subject"])
def test_cover_page_needs_its_three_fields(field: str) -> None:
    cover = {key: value for key, value in COVER.items() if key != field}
    error = only_error({**MINIMAL, "cover_page": cover})
    assert (error["type"], error["loc"]) == ("missing", ("cover_page", field))
    error = only_error({**MINIMAL, "cover_page": {**COVER, field: " \t"}})
    assert (error["type"], error["loc"]) == ("blank", ("cover_page", field))
    error = only_error({**MINIMAL, "cover_page": {**COVER, field: "x" * (MAX_COVER_FIELD_CHARS + 1)}})
    assert (error["type"], error["loc"]) == ("string_too_long", ("cover_page", field))


def test_cover_page_flags() -> None:
    error = only_error({**MINIMAL, "cover_page": {**COVER, "flags": ["urgent", "secret"]}})
    assert (error["type"], error["loc"]) == ("literal_error", ("cover_page", "flags", 1))


def test_cover_page_matches_what_the_cover_sheet_draws() -> None:
    assert set(typing.get_args(CoverPageFlag)) == set(COVER_FLAGS)
    assert MAX_COVER_FIELD_CHARS == MAX_FIELD_CHARS


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate"])
def test_text_must_be_storable(text: str) -> None:
    error = only_error({**MINIMAL, "comment": {"text": text}})
    assert error["loc"] == ("comment", "text")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://example.com", "HTTPS://Example.com/x?y=1"]
)
def test_webhook_url(url: str) -> None:
    assert SendFaxRequest.model_validate({**MINIMAL, "webhook_url": url}).webhook_url == url


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "example.com/hook", "http://", "x"]
)
def test_webhook_url_is_http(url: str) -> None:
    error = only_error({**MINIMAL, "webhook_url": url})
    assert (error["type"], error["loc"]) == ("url", ("webhook_url",))


# --- responses --------------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def fax(**changes: object) -> dict:
    body: dict = {
        "id": "fx1",
        "direction": "outbound",
        "from": "+41782222222",
        "to": "+12025559876",
        "status": "success",
        "pages": {"total": 3, "transferred": 3},
        "files": ["f1"],
        "remote_station_id": "+1 202 555 9876",
        "t38": True,
        "bit_rate": 14400,
        "ecm": True,
        "resolution": "fine",
        "attempts": [
            {
                "n": 1,
                "started_at": T0,
                "ended_at": T0 + timedelta(seconds=95),
                "status": "success",
                "sip_code": 200,
                "hangup_cause": "remote_bye",
                "t30_code": 0,
                "t30_text": "OK",
                "pages_sent": 3,
                "call_id": "a84b4c76e66710",
            }
        ],
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=95),
        "completed_at": T0 + timedelta(seconds=95),
    }
    body.update(changes)
    return body


def test_fax_object_json() -> None:
    body = json.loads(FaxObject.model_validate(fax()).model_dump_json())
    assert body["from"] == "+41782222222" and "from_" not in body
    assert body["created_at"] == "2026-03-01T08:30:00Z"
    assert body["attempts"][0]["ended_at"] == "2026-03-01T08:31:35Z"
    assert body["error"] is None and body["send_at"] is None
    assert FaxObject.model_validate_json(json.dumps(body)) == FaxObject.model_validate(fax())


def test_timestamps_are_utc() -> None:
    paris = timezone(timedelta(hours=1))
    stored = FaxObject.model_validate(fax(created_at=datetime(2026, 3, 1, 9, 30, tzinfo=paris)))
    assert stored.created_at == T0 and stored.created_at.tzinfo is UTC
    with pytest.raises(ValidationError, match="needs a time zone"):
        FaxObject.model_validate(fax(created_at=datetime(2026, 3, 1, 9, 30)))


def test_success_means_every_page_went_across() -> None:
    with pytest.raises(ValidationError, match="2 of 3 pages"):
        FaxObject.model_validate(fax(pages={"total": 3, "transferred": 2}))
    with pytest.raises(ValidationError, match="pages"):
        FaxObject.model_validate(fax(pages={"total": None, "transferred": 2}))
    with pytest.raises(ValidationError, match="with an error"):
        FaxObject.model_validate(fax(error={"code": "failed_user_busy", "description": "y"}))
    partial = FaxObject.model_validate(
        fax(
            status="partially_sent",
            pages={"total": 3, "transferred": 2},
            error={"code": "failed_fs_49", "description": "remote hung up"},
        )
    )
    assert partial.status == FaxStatus.PARTIALLY_SENT


def test_fax_object_status_is_a_known_one() -> None:
    with pytest.raises(ValidationError, match="not a fax status"):
        FaxObject.model_validate(fax(status="delivered"))
    FaxObject.model_validate(fax(status="failed_fs_48", pages={"total": 3, "transferred": 1}))


def test_inbound_fax_in_progress() -> None:
    received = FaxObject.model_validate(
        fax(
            direction="inbound",
            status="in_progress",
            pages={"total": None, "transferred": 2},
            attempts=[],
            completed_at=None,
            **{"from": "anonymous"},
        )
    )
    assert received.from_ == "anonymous"


def test_fax_status_in_a_response_is_the_domain_enum_and_a_string_on_the_wire() -> None:
    failed = FaxObject.model_validate(fax(status="failed_fs_48", pages={"total": 3, "transferred": 0}))
    assert failed.status is FaxStatus.t30_failure(48)
    assert '"status":"failed_fs_48"' in failed.model_dump_json()
    with pytest.raises(ValidationError, match="not a fax status"):
        FaxObject.model_validate(fax(status="failed_fs_"))
    with pytest.raises(ValidationError, match="not a fax status"):
        FaxObject.model_validate(fax(error={"code": "x", "description": "y"}, status="failed"))
    schema = FaxObject.model_json_schema()["properties"]["status"]
    assert schema == {"title": "Status", "type": "string"}  # any failed_fs_<n> fits the schema


def test_other_responses() -> None:
    assert SendFaxResponse(ids={"+12025559876": "fx1"}).model_dump() == {"ids": {"+12025559876": "fx1"}}
    assert SendFaxResponse().model_dump() == {"ids": None}
    listing = FaxList(faxes=[FaxObject.model_validate(fax())], total=1, limit=50, offset=0)
    assert json.loads(listing.model_dump_json())["faxes"][0]["id"] == "fx1"
    uploaded = FileObject(
        id="f1", name="letter.pdf", size=1234, mime_type="application/pdf", pages=None, created_at=T0
    )
    assert json.loads(uploaded.model_dump_json())["created_at"] == "2026-03-01T08:30:00Z"
    with pytest.raises(ValidationError):
        FaxAttempt(n=0, started_at=T0, status="sending")
    with pytest.raises(ValidationError):
        FaxAttempt(n=1, started_at=T0, status="sending", sip_code=99)
