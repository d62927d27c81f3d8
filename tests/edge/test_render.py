"""The edge's settings ([edge], [[edge.nodes]]) and the Kamailio configuration rendered from them
(``faxgw kamailio-config``): read and checked with clear errors, documented in the sample, and accepted by
a real Kamailio 5.6 (``kamailio -c``). test_kamailio.py runs that Kamailio in front of real nodes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from faxgw.gateway.cli import main
from faxgw.gateway.config import Config, ConfigError, load_config
from faxgw.gateway.edge import EdgeConfig, NodeConfig
from faxgw.gateway.kamailio import FILES, render, render_texts

from tests.helpers.kamailio import check_config, kamailio_missing

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "faxgw.sample.toml"

EDGE = """
[[trunks]]
name = "carrier"
hosts = ["sip.carrier.example"]
networks = ["203.0.113.0/28", "2001:db8::/64"]
[[trunks]]
name = "local"
hosts = ["localhost:5070"]
[edge]
listen_host = "127.0.0.1"
listen_port = 5080
probe_interval = 3
node_timeout = 1.5
[[edge.nodes]]
name = "node-a"
sip_host = "127.0.0.1"
sip_port = 5071
[[edge.nodes]]
name = "node-b"
sip_host = "127.0.0.1"
sip_port = 5072
"""


#: node-b's address in EDGE, for the cases that change its host.
NODE_B = 'sip_host = "127.0.0.1"\nsip_port = 5072'


def loaded(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    path = tmp_path / "faxgw.toml"
    path.write_text(text)
    return load_config(path, environ or {})


def test_the_edge_is_read_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = loaded(tmp_path, "drain_timeout = 30\n" + EDGE, {"FAXGW_EDGE_PROBE_INTERVAL": "5"})
    assert config.edge == EdgeConfig(
        listen_host="127.0.0.1",
        listen_port=5080,
        nodes=(NodeConfig("node-a", "127.0.0.1", 5071), NodeConfig("node-b", "127.0.0.1", 5072)),
        probe_interval=5,
        node_timeout=1.5,
    )
    assert config.drain_timeout == 30
    assert load_config(None, {}).edge.nodes == () and load_config(None, {}).drain_timeout == 600


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("node-b", "node-a"), "edge nodes: name node-a given more than once"),
        (("5072", "5071"), "edge nodes: address 127.0.0.1:5071 given more than once"),
        (("sip_port = 5072", "sip_port = 0"), "edge node node-b: sip_port = 0: a port is 1 to 65535"),
        (("listen_port = 5080", "listen_port = 70000"), "edge.listen_port = 70000: a port is 1 to 65535"),
        (('listen_host = "127.0.0.1"', 'listen_host = "::"'), "edge.listen_host = '::': name an address"),
        (("sip_port = 5072", 'sip_port = "x"'), "edge.nodes[1].sip_port: 'x' is not a valid int"),
        (("probe_interval = 3", "probe_interval = 0"), "edge.probe_interval must be at least 1 second"),
        (("node_timeout = 1.5", "node_timeout = 0"), "edge.node_timeout must be above 0 seconds"),
        (('"node-b"', '"node b"'), "edge node name 'node b': 1 to 63 letters"),
        (
            (NODE_B, NODE_B.replace("127.0.0.1", "0.0.0.0")),
            "not a wildcard",
        ),
        (
            (NODE_B, NODE_B.replace("127.0.0.1", "a b")),
            "not an IP address",
        ),
        ((NODE_B, NODE_B.replace("127.0.0.1", "::1")), "(IPv4 and IPv6)"),
        (("sip_port = 5072", "sip_port = 5080"), "127.0.0.1:5080 is where the edge itself listens"),
        (("probe_interval = 3", "probe_every = 3"), "edge: unknown setting(s) probe_every"),
        (('name = "node-b"', 'name = "node-b"\nweight = 2'), "edge.nodes[1]: unknown setting(s) weight"),
        (("[[trunks]]", "drain_timeout = -1\n[[trunks]]"), "drain_timeout cannot be negative"),
    ],
)
def test_a_bad_edge_is_a_clear_config_error(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in EDGE
    with pytest.raises(ConfigError) as error:
        loaded(tmp_path, EDGE.replace(old, new, 1))
    assert message in str(error.value)


def test_the_sample_documents_the_edge(tmp_path: Path) -> None:
    """The sample's commented [edge] block, uncommented, is a working configuration."""
    text = SAMPLE.read_text()
    block = re.search(r"^# \[edge\]\n(?:#.*\n)+", text, re.MULTILINE)
    assert block is not None
    uncommented = re.sub(r"^# ?", "", block[0], flags=re.MULTILINE)
    config = loaded(tmp_path, text.replace(block[0], uncommented))
    assert [node.name for node in config.edge.nodes] == ["node-a", "node-b"]
    assert (config.edge.probe_interval, config.edge.node_timeout) == (10, 2.0)
    assert "drain_timeout = 600.0" in text


@pytest.mark.skipif(kamailio_missing() is not None, reason=f"{kamailio_missing()}; CI installs it")
def test_the_rendered_configuration_passes_kamailios_check(tmp_path: Path) -> None:
    paths = render(loaded(tmp_path, EDGE), tmp_path / "kamailio")
    assert [path.name for path in paths] == list(FILES)
    cfg = tmp_path / "kamailio" / "kamailio.cfg"
    status, output = check_config(cfg)
    assert status == 0, output
    # The check is no formality: a function no loaded module has fails it.
    broken = tmp_path / "broken.cfg"
    broken.write_text(cfg.read_text().replace("ds_next_dst()", "ds_next_destination()"))
    status, output = check_config(broken)
    assert status != 0 and "ds_next_destination" in output, output


def test_the_rendered_files_say_what_the_config_says(tmp_path: Path) -> None:
    texts = render_texts(loaded(tmp_path, EDGE), tmp_path)
    cfg = texts["kamailio.cfg"]
    assert cfg.startswith("#!KAMAILIO\n")
    for line in (
        "listen=udp:127.0.0.1:5080",
        "listen=tcp:127.0.0.1:5080",
        "#!define PROBE_INTERVAL 3",
        "#!define NODE_TIMEOUT 1500",
        f'#!define DISPATCHER_LIST "{tmp_path}/dispatcher.list"',
        f'#!define ADDRESS_LIST "{tmp_path}/address.list"',
        'ds_select_dst(NODES, "0")',  # a hash over the Call-ID
        'modparam("dispatcher", "ds_probing_mode", 1)',
        'modparam("tm", "fr_timer", NODE_TIMEOUT)',  # a silent node is found by the probes in time
        "record_route();",
        "ds_next_dst()",
    ):
        assert line in cfg, line
    assert "#!define DROP_UNTRUSTED" not in cfg
    assert texts["dispatcher.list"].splitlines()[1:] == [
        "1 sip:127.0.0.1:5071 0 0 duid=node-a",
        "1 sip:127.0.0.1:5072 0 0 duid=node-b",
    ]
    acl = texts["address.list"].splitlines()[1:]
    # The carrier's networks as given; the local trunk by what its host resolves to now.
    assert acl[:2] == ["1 203.0.113.0 28 0 carrier", "1 [2001:db8::] 64 0 carrier"]
    assert "1 127.0.0.1 32 0 local" in acl[2:]


def test_the_one_trunk_setup_and_silence_for_strangers(tmp_path: Path) -> None:
    text = EDGE.split("[edge]")[1]
    config = loaded(
        tmp_path,
        'trunk = "sip.carrier.example"\ntrunk_networks = ["198.51.100.7/32"]\nsip_untrusted = "drop"\n[edge]'
        + text,
    )
    texts = render_texts(config, tmp_path)
    assert texts["address.list"].splitlines()[1:] == ["1 198.51.100.7 32 0 default"]
    assert "#!define DROP_UNTRUSTED" in texts["kamailio.cfg"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (EDGE.split("[edge]")[0], "[edge] names no nodes"),
        ("[edge]" + EDGE.split("[edge]")[1], "the edge admits calls only from the trunks"),
        (EDGE.replace("localhost:5070", "nowhere.invalid"), "trunk local: cannot resolve nowhere.invalid"),
    ],
)
def test_what_cannot_be_rendered_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        render(loaded(tmp_path, text), tmp_path / "out")
    assert message in str(error.value)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_the_command_writes_the_files_or_says_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "faxgw.toml"
    config.write_text(EDGE)
    out = tmp_path / "etc"
    assert main(["kamailio-config", "--config", str(config), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / name) for name in FILES]
    config.write_text(EDGE.replace("5072", "5071"))
    assert main(["kamailio-config", "--config", str(config), "--out", str(tmp_path / "none")]) == 2
    assert "address 127.0.0.1:5071 given more than once" in capsys.readouterr().err
