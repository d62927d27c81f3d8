"""routes_for: the routes an outbound fax's attempt hands the engine, in the order to try them."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.engines.base import Route
from faxgw.gateway.jobs.destinations import DestinationRefused
from faxgw.gateway.jobs.routing import routes_for
from faxgw.gateway.peers import DEFAULT_TRUNK, DeviceConfig, TrunkConfig
from faxgw.sip.fax_terms import T38Policy


def trunk(name: str, **settings: object) -> TrunkConfig:
    return TrunkConfig(name, (f"{name}.example.net",), **settings)  # type: ignore[arg-type]


def test_a_sip_uri_has_no_route_and_a_device_number_goes_to_the_device() -> None:
    ata = DeviceConfig("ata1", "pw", ("+15550100", "201"), t38=T38Policy.AUDIO, ecm=False)
    config = Config(trunks=(trunk("a"),), devices=(ata,))
    assert routes_for(config, "sip:+1555@127.0.0.1:5070") == ()
    assert routes_for(config, "201") == (Route("ata1", device=True, t38=T38Policy.AUDIO, ecm=False),)


def test_routes_carry_their_trunks_settings_lower_priority_first() -> None:
    config = Config(
        trunks=(
            trunk("backup", priority=2, t38=T38Policy.AUDIO, ecm=False, max_rate=9600),
            trunk("main", priority=1),
        )
    )
    assert routes_for(config, "+15551234") == (
        Route("main"),
        Route("backup", t38=T38Policy.AUDIO, ecm=False, max_rate=9600),
    )


def test_only_the_trunks_that_carry_a_number_are_routes() -> None:
    config = Config(
        trunks=(
            trunk("us", destinations=("+1",)),
            trunk("uk", destinations=("^\\+44[0-9]{10}$",)),
            trunk("rest", priority=5),
        )
    )
    assert [route.via for route in routes_for(config, "+15551234")] == ["us", "rest"]
    assert [route.via for route in routes_for(config, "+442071234567")] == ["uk", "rest"]
    narrow = Config(trunks=(trunk("us", destinations=("+1",)),))
    with pytest.raises(DestinationRefused, match=r"no trunk carries \+442071234567"):
        routes_for(narrow, "+442071234567")
    with pytest.raises(DestinationRefused, match=r"no trunk is configured: \+15551234"):
        routes_for(Config(), "+15551234")


def test_equal_priorities_share_calls_by_weight() -> None:
    config = Config(trunks=(trunk("a", weight=3), trunk("b", weight=1), trunk("z", priority=1)))
    rng = random.Random(7)
    firsts = Counter(routes_for(config, "+15551234", rng)[0].via for _ in range(4000))
    assert set(firsts) == {"a", "b"}  # z, of a later priority, never leads
    assert 0.70 < firsts["a"] / 4000 < 0.80  # 3 of 4
    assert all(routes_for(config, "+1", rng)[-1].via == "z" for _ in range(50))


def test_the_one_trunk_shorthand_routes_through_default() -> None:
    config = Config(trunk="127.0.0.1:5070", t38=T38Policy.T38, ecm=False)
    assert routes_for(config, "+15551234") == (Route(DEFAULT_TRUNK, t38=T38Policy.T38, ecm=False),)
