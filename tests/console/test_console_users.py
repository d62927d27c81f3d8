"""Console users ([[tenants]] users = {name = "<scrypt hash>"}): one signs in with tenant, name and password
and may view and send; a wrong password, an unknown user or another tenant's name is refused the same way
and counts as a failed sign-in; a hash that is not ours is refused when the configuration loads."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from faxgw.gateway.config import ConfigError, load_config
from faxgw.gateway.consoleconfig import check_password, hash_password

from tests.helpers.console import COOKIE
from tests.helpers.gateway import Running, gateway_config, start_running

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    config = gateway_config(tmp_path / "var")
    acme, other = config.tenants
    tenants = (dataclasses.replace(acme, users={"alice": hash_password(PASSWORD)}), other)
    async for started in start_running(dataclasses.replace(config, tenants=tenants)):
        yield started


async def test_a_user_of_the_tenant_signs_in_and_may_send(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        for tenant, user, password in (
            ("acme", "alice", "wrong"),
            ("acme", "bob", PASSWORD),
            ("other", "alice", PASSWORD),  # alice is acme's
            ("nobody", "alice", PASSWORD),
        ):
            answer = await client.post(
                "/console/sign-in", data={"tenant": tenant, "user": user, "password": password}
            )
            assert answer.headers["location"] == "/console/sign-in?error=key", (tenant, user)
            assert COOKIE not in answer.cookies
        answer = await client.post(
            "/console/sign-in", data={"tenant": "acme", "user": "alice", "password": PASSWORD}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"
        session = (await client.get("/console/api/session")).json()
        assert session["tenant"] == "acme" and session["can_send"] is True


def test_hashes_check_and_a_foreign_hash_is_a_config_error(tmp_path: Path) -> None:
    hashed = hash_password(PASSWORD)
    assert check_password(PASSWORD, hashed) and not check_password(PASSWORD + "!", hashed)
    for bad in ("plaintext", "scrypt$1048576$8$1$c2FsdA$a2V5a2V5a2V5a2V5a2V5", "scrypt$16384$8$1$!!$!!"):
        assert not check_password(PASSWORD, bad)
        path = tmp_path / "faxgw.toml"
        path.write_text(f'[[tenants]]\nid = "acme"\nusers = {{ alice = "{bad}" }}\n')
        with pytest.raises(ConfigError, match="alice"):
            load_config(path, environ={})
    path.write_text(f'[[tenants]]\nid = "acme"\nusers = {{ alice = "{hashed}" }}\n')
    assert load_config(path, environ={}).tenants[0].users == {"alice": hashed}
