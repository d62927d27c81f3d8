"""The OpenAPI document says what the API answers: each operation's errors in its dialect's shape, the
authentication schemes, the request bodies that the dialects read by hand; ``/docs`` and ``/redoc`` can be
turned off (``api_docs``); a 405 names every method of the resource. Against a running gateway."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.gateway import Running, gateway_config, start_running

#: The error schema of each family, by the path's start.
FAMILIES = [
    ("/v1/", "ErrorBody"),
    ("/v3/hooks", "ErrorBody"),
    ("/v3/accounts/", "ErrorBody"),
    ("/v2/", "TelnyxErrors"),
    ("/v3/fax", "DropboxError"),
    ("/v3/account", "DropboxError"),
]


def family_error(path: str) -> str:
    return next(schema for start, schema in FAMILIES if path.startswith(start))


def refs(response: dict[str, Any]) -> set[str]:
    """The component names a response's JSON schema refers to."""
    text = str(response.get("content", {}).get("application/json", {}).get("schema", {}))
    return {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}


@pytest.fixture
async def spec(running: Running) -> dict[str, Any]:
    response = await running.client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]


async def test_every_operation_lists_its_errors_in_its_dialects_shape(spec: dict[str, Any]) -> None:
    assert len(operations(spec)) >= 30
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        errors = {int(status) for status in responses if status.startswith("4")}
        # A signed link (Telnyx's media_url) carries no key: its 403 is a bad signature, never a 401.
        keyed = not path.startswith("/v2/signed/")
        assert ({401, 403} if keyed else {403}) <= errors, (method, path, sorted(responses))
        for status in errors:  # the key check's 401 and 403 included
            assert refs(responses[str(status)]) == {family_error(path)}, (method, path, status)


async def test_validation_errors_are_documented_as_answered(spec: dict[str, Any]) -> None:
    """FastAPI documents a 422 for every route that validates; here only Telnyx answers 422."""
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, method, operation in operations(spec):
        if "422" in operation["responses"]:
            assert path.startswith("/v2/"), (method, path)
    answers = {
        ("/v1/faxes", "get"): 400,
        ("/v1/faxes", "post"): 400,
        ("/v3/accounts/{user_id}/faxes", "get"): 400,
        ("/v3/fax/list", "get"): 400,
        ("/v2/faxes", "get"): 422,
    }
    for (path, method), status in answers.items():
        assert str(status) in spec["paths"][path][method]["responses"], (method, path)


async def test_authentication_is_documented(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert (schemes["basic"]["type"], schemes["basic"]["scheme"]) == ("http", "basic")
    for path, method, operation in operations(spec):
        dropbox = family_error(path) == "DropboxError"
        expected = [{"basic": []}, {"bearer": []}] if dropbox else [{"bearer": []}]
        assert operation["security"] == expected, (method, path)
        names = {parameter["name"].lower() for parameter in operation.get("parameters", [])}
        assert "authorization" not in names, (method, path)  # a scheme, not a free-form header


async def test_bodies_read_by_hand_are_documented(spec: dict[str, Any]) -> None:
    telnyx = spec["paths"]["/v2/faxes"]["post"]["requestBody"]["content"]
    assert set(telnyx) == {"application/json", "multipart/form-data"}
    assert {"connection_id", "from", "to"} <= set(telnyx["application/json"]["schema"]["required"])
    assert telnyx["multipart/form-data"]["schema"]["properties"]["contents"]["format"] == "binary"
    dropbox = spec["paths"]["/v3/fax/send"]["post"]["requestBody"]["content"]
    assert set(dropbox) == {"application/json", "multipart/form-data"}
    assert dropbox["multipart/form-data"]["schema"]["properties"]["files"]["items"]["format"] == "binary"
    assert dropbox["application/json"]["schema"]["properties"]["file_urls"]["type"] == "array"


async def test_downloads_are_documented_with_their_media_types(spec: dict[str, Any]) -> None:
    def media(path: str) -> set[str]:
        return set(spec["paths"][path]["get"]["responses"]["200"]["content"])

    assert media("/v1/faxes/{fax_id}/file") == {"application/pdf", "image/tiff"}
    assert media("/v1/faxes/{fax_id}/pages/{number}") == {"image/png"}
    assert media("/v1/faxes/{fax_id}/events") == {"text/event-stream"}
    assert media("/v3/fax/files/{fax_id}") == {"application/pdf"}


async def test_docs_are_served_by_default(running: Running) -> None:
    for path in ("/docs", "/redoc"):
        response = await running.client.get(path)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]


@pytest.fixture
async def without_docs(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), api_docs=False)
    async for started in start_running(config):
        yield started


async def test_docs_can_be_turned_off(without_docs: Running) -> None:
    async with httpx.AsyncClient(base_url=without_docs.base_url) as anonymous:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            response = await anonymous.get(path)
            assert response.status_code == 404 and response.json()["error"] == "not_found", path
        spec = await anonymous.get("/openapi.json")
    assert spec.status_code == 200 and "/v1/faxes" in spec.json()["paths"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/faxes/fx1", "DELETE, GET"),
        ("/v2/faxes", "GET, POST"),
        ("/v3/account", "GET, PUT"),
        ("/v3/fax/list", "GET"),  # not DELETE, although /v3/fax/{fax_id} would match it
        ("/v3/hooks", "GET, POST"),
    ],
)
async def test_405_names_every_method_of_the_resource(running: Running, path: str, allowed: str) -> None:
    response = await running.client.request("PATCH", path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed  # RFC 9110 15.5.6
    assert allowed in response.text  # in the dialect's error shape (Telnyx: errors[0].detail)
