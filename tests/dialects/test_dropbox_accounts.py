"""The SDK's AccountApi beyond the callback URL (which test_dropbox_callbacks drives): verify and create."""

from __future__ import annotations

import pytest
from dropbox_sign import AccountCreateRequest, AccountVerifyRequest, ApiException

from tests.helpers.dialects import accounts, call
from tests.helpers.gateway import READ_ONLY, Running


async def test_verify_knows_no_email_address(running: Running) -> None:
    verified = await call(
        accounts(running, READ_ONLY).account_verify, AccountVerifyRequest(email_address="a@example.com")
    )
    assert verified.account is None  # Dropbox Sign's answer for an address without an account

    response = await running.client.post("/v3/account/verify", json={})
    assert response.status_code == 400
    assert response.json()["error"]["error_name"] == "bad_request"
    assert response.json()["error"]["error_path"] == "email_address"


async def test_create_refused_in_dropbox_words(running: Running) -> None:
    with pytest.raises(ApiException) as refused:
        await call(accounts(running).account_create, AccountCreateRequest(email_address="a@example.com"))
    assert refused.value.status == 403
    error = refused.value.data.error
    assert error.error_name == "forbidden" and "operator's configuration" in error.error_msg

    with pytest.raises(ApiException) as read_only:  # creating needs the edit scope, as every change does
        await call(
            accounts(running, READ_ONLY).account_create, AccountCreateRequest(email_address="a@example.com")
        )
    assert read_only.value.status == 403 and "operator" not in read_only.value.data.error.error_msg
