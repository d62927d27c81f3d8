"""Dropbox Fax's fax lines (the SDK's ``FaxLineApi``, unmodified) over the gateway's configured numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dropbox_sign import (
    ApiException,
    FaxLineAddUserRequest,
    FaxLineApi,
    FaxLineCreateRequest,
    FaxLineDeleteRequest,
    FaxLineRemoveUserRequest,
)

from tests.helpers.dialects import call, dropbox_fax
from tests.helpers.gateway import EDIT, OTHER, READ_ONLY, RECEIVER, SENDER, Running


def lines(running: Running, token: str = EDIT) -> FaxLineApi:
    return FaxLineApi(dropbox_fax(running, token).api_client)


async def test_list_and_get_the_tenants_numbers(running: Running) -> None:
    api = lines(running, READ_ONLY)  # reading lines needs the read scope only
    listed = await call(api.fax_line_list)
    assert [line.number for line in listed.fax_lines] == [SENDER, RECEIVER]
    assert [[a.account_id for a in line.accounts] for line in listed.fax_lines] == [["acme"], ["acme"]]
    info = listed.list_info
    assert (info.num_results, info.num_pages, info.page, info.page_size) == (2, 1, 1, 20)

    second = await call(api.fax_line_list, page=2, page_size=1)
    assert [line.number for line in second.fax_lines] == [RECEIVER]
    assert (second.list_info.num_pages, second.list_info.page) == (2, 2)

    got = (await call(api.fax_line_get, SENDER)).fax_line
    assert got.number == SENDER and got.accounts[0].account_id == "acme"

    # Another tenant has no lines, and cannot see acme's.
    other = lines(running, OTHER)
    assert (await call(other.fax_line_list)).fax_lines == []
    with pytest.raises(ApiException) as missing:
        await call(other.fax_line_get, SENDER)
    assert missing.value.status == 404
    assert missing.value.data.error.error_name == "not_found"

    with pytest.raises(ApiException) as foreign:  # a team member's lines: a tenant has no other account
        await call(api.fax_line_list, account_id="other")
    assert foreign.value.status == 404 and foreign.value.data.error.error_name == "not_found"


@pytest.mark.parametrize(
    "change",
    [
        lambda api: api.fax_line_create(FaxLineCreateRequest(area_code=555, country="US")),
        lambda api: api.fax_line_delete(FaxLineDeleteRequest(number=SENDER)),
        lambda api: api.fax_line_add_user(FaxLineAddUserRequest(number=SENDER, account_id="other")),
        lambda api: api.fax_line_remove_user(FaxLineRemoveUserRequest(number=SENDER, account_id="acme")),
        lambda api: api.fax_line_area_code_get("US"),
    ],
    ids=["create", "delete", "add_user", "remove_user", "area_codes"],
)
async def test_buying_or_sharing_lines_refused_in_dropbox_words(
    running: Running, change: Callable[[FaxLineApi], Any]
) -> None:
    with pytest.raises(ApiException) as refused:
        await call(change, lines(running))
    assert refused.value.status == 403
    error = refused.value.data.error
    assert error.error_name == "forbidden" and "operator's configuration" in error.error_msg
    # The lines are as configured still.
    assert len((await call(lines(running).fax_line_list)).fax_lines) == 2
