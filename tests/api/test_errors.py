"""The error boundary: whatever goes wrong, the client gets ``{"error", "description"}`` JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, HTTPException, Query
from fastapi.testclient import TestClient
from faxgw.gateway.api.errors import STATUS, ApiError, ApiErrorCode, field_name, install_error_handlers
from faxgw.gateway.api.models import SendFaxRequest, SendFaxResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MINIMAL = {"from": "+41782222222", "to": ["+12025559876"], "files": ["f1"]}
SECRET = "database password is hunter2"


def make_app(**kwargs: object) -> FastAPI:
    app = FastAPI(**kwargs)  # type: ignore[arg-type]
    install_error_handlers(app)

    @app.post("/v1/faxes", status_code=201)
    def send_fax(request: SendFaxRequest) -> SendFaxResponse:
        # Touch what a real route would use, so a value that validates but cannot be used shows up as a 500.
        assert request.from_numbers
        _ = request.send_at
        return SendFaxResponse(ids={number: f"fx{n}" for n, number in enumerate(request.to)})

    @app.get("/v1/faxes/{fax_id}")
    def get_fax(fax_id: str) -> dict:
        raise ApiError.not_found("fax", fax_id)

    @app.delete("/v1/faxes/{fax_id}")
    def cancel_fax(fax_id: str) -> dict:
        raise ApiError.conflict(f"fax {fax_id} was already sent")

    @app.get("/v1/faxes")
    def list_faxes(limit: int = Query(50, ge=1, le=100)) -> dict:
        return {"limit": limit}

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError(SECRET)

    @app.get("/bad-response")
    def bad_response() -> SendFaxResponse:
        return {"ids": 5}  # type: ignore[return-value]

    @app.get("/teapot")
    def teapot() -> dict:
        raise HTTPException(418)

    @app.get("/gone")
    def gone() -> dict:
        raise HTTPException(404, "that fax was deleted")

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # raise_server_exceptions=False: Starlette re-raises a 500's exception after answering; we test the answer
    with TestClient(make_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def error_body(response, status: int, code: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "description"}
    assert body["error"] == code
    assert isinstance(body["description"], str) and body["description"]
    return body["description"]


def post(client: TestClient, payload: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/faxes", json=payload)


# --- ApiError ---------------------------------------------------------------------------------------------


def test_codes_and_statuses() -> None:
    assert {code.value: STATUS[code] for code in ApiErrorCode} == {
        "invalid_request": 400,
        "invalid_number_format": 400,
        "too_many_files": 400,
        "too_many_destinations": 400,
        "unauthorized": 401,
        "forbidden": 403,
        "not_found": 404,
        "method_not_allowed": 405,
        "conflict": 409,
        "payload_too_large": 413,
        "mimetype_not_supported": 415,
        "internal_server_error": 500,
    }
    # Request errors never look like a fax's final status.
    assert not any(code.startswith("failed") for code in ApiErrorCode)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ApiError.invalid_request("x"), 400, "invalid_request"),
        (ApiError.invalid_number_format("to[0]", "+1"), 400, "invalid_number_format"),
        (ApiError.too_many_files(11, 10), 400, "too_many_files"),
        (ApiError.too_many_destinations(4001, 4000), 400, "too_many_destinations"),
        (ApiError.payload_too_large(200_000_000, 157_286_400), 413, "payload_too_large"),
        (ApiError.unsupported_media_type("video/mp4 cannot be faxed"), 415, "mimetype_not_supported"),
        (ApiError.unauthorized(), 401, "unauthorized"),
        (ApiError.forbidden("fax:fax:edit"), 403, "forbidden"),
        (ApiError.not_found("fax", "fx1"), 404, "not_found"),
        (ApiError.conflict("already sent"), 409, "conflict"),
        (ApiError.internal_server_error(), 500, "internal_server_error"),
    ],
)
def test_constructors(error: ApiError, status: int, code: str) -> None:
    response = error.to_response()
    assert response.status_code == status
    assert json.loads(response.body) == {"error": code, "description": error.description}


def test_auth_errors_say_how_to_authenticate() -> None:
    assert ApiError.unauthorized().to_response().headers["www-authenticate"] == "Bearer"
    challenge = ApiError.forbidden("fax:fax:edit").to_response().headers["www-authenticate"]
    assert challenge == 'Bearer error="insufficient_scope", scope="fax:fax:edit"'
    assert "fax:fax:edit" in ApiError.forbidden("fax:fax:edit").description


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("body", "to", 3), "to[3]"),
        (("body", "options", "retry", "count"), "options.retry.count"),
        (("body",), "request body"),
        (("query", "limit"), "limit (query)"),
        (("to", 0), "to[0]"),
    ],
)
def test_field_names(loc: tuple, name: str) -> None:
    assert field_name(loc) == name


# --- through an app ---------------------------------------------------------------------------------------


def test_valid_request(client: TestClient) -> None:
    response = post(client, {**MINIMAL, "to": ["+12025559876", "+441234567890"], "return_ids": True})
    assert response.status_code == 201
    assert response.json() == {"ids": {"+12025559876": "fx0", "+441234567890": "fx1"}}


def test_file_limit(client: TestClient) -> None:
    assert post(client, {**MINIMAL, "files": [f"f{n}" for n in range(10)]}).status_code == 201
    description = error_body(
        post(client, {**MINIMAL, "files": [f"f{n}" for n in range(11)]}), 400, "too_many_files"
    )
    assert description == "files: 11 files, at most 10 per fax"


def test_destination_limit(client: TestClient) -> None:
    numbers = [f"+1202555{n:05d}" for n in range(4001)]
    assert post(client, {**MINIMAL, "to": numbers[:4000]}).status_code == 201
    description = error_body(post(client, {**MINIMAL, "to": numbers}), 400, "too_many_destinations")
    assert description.startswith("to: 4001 destinations, at most 4000 per request")


def test_bad_destination_number(client: TestClient) -> None:
    description = error_body(
        post(client, {**MINIMAL, "to": ["+12025559876", "555-1234"]}), 400, "invalid_number_format"
    )
    assert description.startswith("to[1]: '555-1234' is not an E.164 fax number")


def test_bad_sender_number(client: TestClient) -> None:
    description = error_body(
        post(client, {**MINIMAL, "from": "+41782222222,+4178"}), 400, "invalid_number_format"
    )
    assert description.startswith("from: entry 2 of the pool, '+4178'")


def test_every_problem_is_listed_most_specific_code_first(client: TestClient) -> None:
    payload = {
        **MINIMAL,
        "to": ["12"],
        "files": ["f"] * 11,
        "options": {"retry": {"count": 9}},
        "bogus": True,
    }
    description = error_body(post(client, payload), 400, "too_many_files")
    problems = description.split("; ")
    assert problems[0].startswith("files: 11 files")
    assert set(problems[1:]) == {
        "to[0]: '12' is not an E.164 fax number ('+', at least 8 digits, optionally '*'s and an extension)",
        "options.retry.count: Input should be less than or equal to 3",
        "bogus: unknown field",
    }


def test_long_lists_of_problems_are_cut(client: TestClient) -> None:
    description = error_body(post(client, {**MINIMAL, "to": ["1"] * 50}), 400, "invalid_number_format")
    assert description.count("is not an E.164") == 5
    assert description.endswith("and 45 more")


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        (
            {"options": {"retry": {"count": -1}}},
            "options.retry.count: Input should be greater than or equal to 0",
        ),
        (
            {"options": {"retry": {"count": 4}}},
            "options.retry.count: Input should be less than or equal to 3",
        ),
        (
            {"options": {"retry": {"delay": 181}}},
            "options.retry.delay: Input should be less than or equal to 180",
        ),
        ({"send_time": "2026-03-01T09:30:00Z"}, "send_time: '2026-03-01T09:30:00Z' is not in the format"),
        (
            {"send_time": "2026-02-30 10:00:00 +0000"},
            "send_time: '2026-02-30 10:00:00 +0000' is not a real date",
        ),
        ({"cover_page": {"name_to": "A", "name_from": "B"}}, "cover_page.subject: required"),
        ({"unknown": 1}, "unknown: unknown field"),
        ({"files": []}, "request body: give files (ids from POST /v1/files), from_fax, or both"),
        ({"resolution": "standard"}, "resolution: Input should be 'fine' or 'superfine'"),
        ({"webhook_url": "ftp://x"}, "webhook_url: URL scheme should be 'http' or 'https'"),
    ],
)
def test_invalid_requests_name_the_field(client: TestClient, changes: dict, text: str) -> None:
    assert text in error_body(post(client, {**MINIMAL, **changes}), 400, "invalid_request")


def test_missing_fields(client: TestClient) -> None:
    description = error_body(post(client, {"files": ["f1"]}), 400, "invalid_request")
    assert set(description.split("; ")) == {"from: required", "to: required"}


def test_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/v1/faxes", content=b'{"from": "+41782222222",', headers={"content-type": "application/json"}
    )
    description = error_body(response, 400, "invalid_request")
    assert description.startswith("request body is not valid JSON: Expecting property name")
    assert "at character" in description


def test_body_that_is_not_an_object(client: TestClient) -> None:
    for body in ([MINIMAL], "text", 3, None):
        description = error_body(post(client, body), 400, "invalid_request")
        assert description.startswith("request body")


def test_missing_body(client: TestClient) -> None:
    assert error_body(client.post("/v1/faxes"), 400, "invalid_request") == "request body is required"


def test_body_that_is_not_json(client: TestClient) -> None:
    response = client.post("/v1/faxes", content=json.dumps(MINIMAL), headers={"content-type": "text/plain"})
    assert "application/json" in error_body(response, 415, "mimetype_not_supported")


def test_query_parameters(client: TestClient) -> None:
    assert client.get("/v1/faxes", params={"limit": 5}).json() == {"limit": 5}
    description = error_body(client.get("/v1/faxes", params={"limit": 500}), 400, "invalid_request")
    assert description == "limit (query): Input should be less than or equal to 100"


def test_api_errors_from_routes(client: TestClient) -> None:
    assert error_body(client.get("/v1/faxes/fx9"), 404, "not_found") == "no fax with id 'fx9'"
    assert error_body(client.delete("/v1/faxes/fx9"), 409, "conflict") == "fax fx9 was already sent"


def test_http_exceptions_from_routes(client: TestClient) -> None:
    assert error_body(client.get("/gone"), 404, "not_found") == "that fax was deleted"
    assert error_body(client.get("/teapot"), 418, "i_m_a_teapot") == "i'm a teapot"


def test_unknown_path(client: TestClient) -> None:
    assert error_body(client.get("/v2/nothing"), 404, "not_found") == "no such endpoint: GET /v2/nothing"


def test_wrong_method(client: TestClient) -> None:
    response = client.put("/boom")
    description = error_body(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"
    assert description == "PUT /boom is not allowed; allowed: GET"


def test_unexpected_exception(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway.api"):
        response = client.get("/boom")
    description = error_body(response, 500, "internal_server_error")
    assert (
        SECRET not in response.text
        and "Traceback" not in response.text
        and "RuntimeError" not in response.text
    )
    assert "log" in description
    # The traceback is in the log, for the operator.
    [record] = [record for record in caplog.records if record.name == "gateway.api"]
    assert record.exc_info is not None and SECRET in caplog.text
    assert "GET /boom" in record.getMessage()


def test_our_own_bad_response_is_a_500(client: TestClient) -> None:
    error_body(client.get("/bad-response"), 500, "internal_server_error")


def test_body_size_limit() -> None:
    # Starlette's body limit raises a 413 HTTPException while the body streams in: it speaks our format too.
    # (With a Content-Length over the limit Starlette answers text/plain itself, whatever the app sends.)
    body = json.dumps({**MINIMAL, "comment": {"text": "x" * 2000}}).encode()
    with TestClient(make_app(max_body_size=1000), raise_server_exceptions=False) as small:
        response = small.post(
            "/v1/faxes", content=iter([body[:600], body[600:]]), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert error_body(response, 413, "payload_too_large") == "the request body is too large"


def test_debug_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="debug"):
        install_error_handlers(FastAPI(debug=True))


def test_lone_surrogates(client: TestClient) -> None:
    # Legal JSON, but not encodable as UTF-8: echoed raw in a description it would break the error response.
    head = '{"from": "+41782222222", "to": ["+12025559876"], "files": ["f1"], '
    for tail, text in (
        ('"comment": {"text": "\\ud800"}}', "comment.text"),
        ('"\\udcff": 1}', "request body"),
    ):
        response = client.post("/v1/faxes", content=head + tail, headers={"content-type": "application/json"})
        assert text in error_body(response, 400, "invalid_request")


# --- random bodies ----------------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Valid values for every field, and values that are nearly right; a body starts valid and has a few fields
# broken, dropped or added, so the examples reach every validator and some go all the way to the route.
good_numbers = st.sampled_from(["+12025559876", "+41782222222**12", "+12345678" + "*" * 10 + "9"])
bad_numbers = st.sampled_from(["+1234567", "12025559876", "", "+1202555987\n", "+1 202 555 9876"])
offsets = st.sampled_from(["+0000", "-0530", "+1400", "-1200", "+0100"])
good = {
    "from": st.sampled_from(
        ["+41782222222", "no_number", "+41782222222,NO_NUMBER", "+41782222222,+41782222333"]
    ),
    "to": st.lists(good_numbers, min_size=1, max_size=4),
    "files": st.lists(st.sampled_from(["f1", "cover.pdf", "a-b_c.1"]), min_size=1, max_size=10),
    "from_fax": st.fixed_dictionaries({"fax_id": st.just("abc123")}, optional={"user_id": st.just("self")}),
    "comment": st.fixed_dictionaries(
        {}, optional={"tags": st.lists(st.text(max_size=10), max_size=3), "text": st.text(max_size=30)}
    ),
    "options": st.fixed_dictionaries(
        {},
        optional={
            "enhancement": st.booleans(),
            "retry": st.fixed_dictionaries(
                {}, optional={"count": st.integers(0, 3), "delay": st.integers(0, 180)}
            ),
            "partially_sent_retry": st.booleans(),
        },
    ),
    "send_time": st.tuples(st.datetimes(), offsets).map(
        lambda pair: f"{pair[0]:%Y-%m-%d %H:%M:%S} {pair[1]}".rjust(25, "0")
    ),
    "return_ids": st.booleans(),
    "resolution": st.sampled_from(["fine", "superfine"]),
    "cover_page": st.fixed_dictionaries(
        {"name_to": st.just("A"), "name_from": st.just("B"), "subject": st.text(min_size=1, max_size=5)},
        optional={"flags": st.lists(st.sampled_from(["urgent", "confidential"]), max_size=2)},
    ),
    "webhook_url": st.sampled_from(["https://example.com/h", "http://127.0.0.1:8080/fax"]),
}
bad = {
    "from": st.sampled_from(["+1,", "", "+41782222222, +41782222333", "none"]),
    "to": st.lists(good_numbers | bad_numbers, max_size=4),
    "files": st.lists(st.sampled_from(["f1", "../x", "", ".f"]), max_size=12),
    "options": st.fixed_dictionaries(
        {"retry": st.fixed_dictionaries({"count": st.integers(), "delay": st.integers()})}
    ),
    "send_time": st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\Z"),
    "resolution": st.just("standard"),
    "cover_page": st.fixed_dictionaries({"name_to": st.text(max_size=3)}),
    "webhook_url": st.sampled_from(["ftp://x", "http://", "x"]),
}
fields = sorted(good)


@st.composite
def payloads(draw: st.DrawFn) -> dict:
    required = {"from": good["from"], "to": good["to"], "files": good["files"]}
    body = draw(
        st.fixed_dictionaries(required, optional={key: good[key] for key in fields if key not in required})
    )
    for key in draw(st.sets(st.sampled_from([*fields, "extra"]), max_size=2)):
        body[key] = draw(bad.get(key, st.nothing()) | json_values)
    for key in draw(st.sets(st.sampled_from(fields), max_size=2)):
        body.pop(key, None)
    return body


def assert_json_answer(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (201, 400, 415), response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if response.status_code == 201:
        assert set(body) == {"ids"}
    else:
        assert set(body) == {"error", "description"}
        assert body["error"] in {code.value for code in ApiErrorCode}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads() | json_values)
def test_random_json_never_breaks_the_api(client: TestClient, payload: object) -> None:
    response = client.post(
        "/v1/faxes", content=json.dumps(payload), headers={"content-type": "application/json"}
    )
    assert_json_answer(response)
    assert response.status_code != 415


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_never_break_the_api(client: TestClient, body: bytes) -> None:
    assert_json_answer(client.post("/v1/faxes", content=body, headers={"content-type": "application/json"}))
