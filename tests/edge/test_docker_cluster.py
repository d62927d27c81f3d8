"""docker/compose.yaml's "cluster" profile and its docker/cluster.toml: the configuration loads, the edge it
renders passes a real Kamailio's check, and compose gives each node the name and SIP port that
[[edge.nodes]] sends its calls to. (No Docker engine runs here: what compose would run is checked piece by
piece.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from faxgw.gateway.config import load_config
from faxgw.gateway.kamailio import render

from tests.helpers.kamailio import check_config, kamailio_missing

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def test_compose_starts_the_nodes_the_edge_sends_calls_to() -> None:
    config = load_config(DOCKER / "cluster.toml", environ={})
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    nodes = {
        name: service for name, service in services.items() if "FAXGW_NODE" in service.get("environment", {})
    }
    compose = {
        (service["environment"]["FAXGW_NODE"], int(service["environment"]["FAXGW_SIP_PORT"]))
        for service in nodes.values()
    }
    assert compose == {(node.name, node.sip_port) for node in config.edge.nodes}
    assert {"postgres", "kamailio"} <= set(services)
    for service in nodes.values():  # one database for all, and a SIGTERM that drains
        assert service["environment"]["FAXGW_DATABASE_URL"].startswith("postgresql://")
        assert service["stop_signal"] == "SIGTERM"
        node = load_config(DOCKER / "cluster.toml", environ=service["environment"])
        assert node.database_url == service["environment"]["FAXGW_DATABASE_URL"]
        assert node.node == service["environment"]["FAXGW_NODE"]


@pytest.mark.skipif(kamailio_missing() is not None, reason=f"{kamailio_missing()}; CI installs it")
def test_the_cluster_example_renders_an_edge_kamailio_accepts(tmp_path: Path) -> None:
    render(load_config(DOCKER / "cluster.toml", environ={}), tmp_path)
    status, output = check_config(tmp_path / "kamailio.cfg")
    assert status == 0, output
