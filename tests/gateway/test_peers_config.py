"""[[trunks]] and [[devices]]: read from the file, checked, and the one-trunk shorthand as a trunk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from faxgw.gateway.config import Config, ConfigError, load_config
from faxgw.gateway.peers import DEFAULT_TRUNK, Relay, TrunkConfig
from faxgw.sip.fax_terms import T38Policy

TWO_TRUNKS = """
[[tenants]]
id = "acme"

[[trunks]]
name = "carrier-a"
hosts = ["127.0.0.1:5070", "127.0.0.2"]
username = "u"
password = "p"
register = true
t38 = "audio"
max_rate = 9600
max_calls = 4
calls_per_second = 2.5
destinations = ["+1", "^\\\\+44[0-9]+$"]

[[trunks]]
name = "carrier-b"
hosts = "sip.example.net"
transport = "tcp"
priority = 1

[[devices]]
username = "ata1"
password = "secret"
numbers = ["+15550001", "201"]
relay = "real_time"
media_latch = false
"""


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "faxgw.toml"
    path.write_text(text)
    return load_config(path, environ={})


def test_trunks_and_devices_are_read_with_their_types(tmp_path: Path) -> None:
    config = _load(tmp_path, TWO_TRUNKS)
    first, second = config.trunks
    assert first.hosts == ("127.0.0.1:5070", "127.0.0.2")
    assert first.t38 is T38Policy.AUDIO and first.max_rate == 9600 and first.calls_per_second == 2.5
    assert second.hosts == ("sip.example.net",) and second.transport == "tcp" and second.priority == 1
    assert first.carries("+15551234") and first.carries("+442071234567") and not first.carries("+4420x")
    assert second.carries("anything")
    assert first.uri("+1555", "127.0.0.2") == "sip:+1555@127.0.0.2:5060"
    assert second.uri("+1555") == "sip:+1555@sip.example.net:5060;transport=tcp"
    (device,) = config.devices
    assert device.relay is Relay.REAL_TIME and config.device_for("201") is device
    assert device.media_latch is False  # on by default: a device behind NAT
    assert config.device_tenant(device) == "acme" and config.device("ata1") is device
    assert config.device_for("+15550002") is None


def test_the_one_trunk_shorthand_is_a_trunk_named_default() -> None:
    config = Config(trunk="127.0.0.1:5070", trunk_username="u", trunk_password="p", t38=T38Policy.T38)
    (trunk,) = config.trunks
    # Not pinged: the one-trunk setup works as it did before [[trunks]] (no OPTIONS to its peer).
    assert trunk == TrunkConfig(
        name=DEFAULT_TRUNK,
        hosts=("127.0.0.1:5070",),
        username="u",
        password="p",
        t38=T38Policy.T38,
        keepalive=0,
    )
    assert Config().trunks == ()
    moved = dataclasses.replace(config, trunk="127.0.0.2:5080", t38=T38Policy.AUDIO)
    assert moved.trunks == (dataclasses.replace(trunk, hosts=("127.0.0.2:5080",), t38=T38Policy.AUDIO),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('trunk = "h"\n[[trunks]]\nname = "a"\nhosts = ["h"]', "one or the other"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\ncolour = "red"', "unknown setting(s) colour"),
        ('[[trunks]]\nname = "a"', "hosts"),
        ('[[trunks]]\nname = "a b"\nhosts = ["h"]', "trunk name 'a b'"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\ntransport = "sctp"', "transport = 'sctp'"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\nmax_rate = 12000', "max_rate = 12000"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\nregister = true', "needs username"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\ndestinations = ["^("]', "destinations"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\nnetworks = ["nowhere"]', "not an IP network"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\nt38 = "maybe"', "t38 = 'maybe'"),
        ('[[trunks]]\nname = "a"\nhosts = ["h"]\n[[trunks]]\nname = "a"\nhosts = ["i"]', "more than once"),
        ('[[devices]]\nusername = "d"\nnumbers = ["1"]', "password"),
        ('[[devices]]\nusername = "d"\npassword = "p"\nnumbers = []', "numbers"),
        ('[[devices]]\nusername = "d"\npassword = "p"\nnumbers = ["1"]\nrelay = "pigeon"', "relay"),
        (
            '[[devices]]\nusername = "d"\npassword = "p"\nnumbers = ["1"]\n'
            '[[devices]]\nusername = "e"\npassword = "p"\nnumbers = ["1"]',
            "device number 1 configured more than once",
        ),
        (
            '[[tenants]]\nid = "t"\n[[devices]]\nusername = "d"\npassword = "p"\n'
            'numbers = ["1"]\ntenant = "x"',
            "'x'",
        ),
        ("trunks = 5", "array of tables"),
        ('[[tenants]]\nid = "t"\nretries = -1', "cannot be negative"),
    ],
)
def test_a_bad_entry_is_a_clear_config_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text)
    assert message in str(error.value)
