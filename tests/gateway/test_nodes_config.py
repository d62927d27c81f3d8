"""The settings of several nodes (README "Running several nodes"): read with their types, from the file or
FAXGW_* variables, and a bad one is a clear error before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.config import ConfigError, load_config


def test_the_nodes_settings_are_read_and_default_to_one_embedded_node(tmp_path: Path) -> None:
    path = tmp_path / "faxgw.toml"
    path.write_text('database_url = "postgresql://faxgw@db/faxgw"\nlease = 6\ncalls_per_destination = 0\n')
    config = load_config(path, environ={"FAXGW_NODE": "fax2", "FAXGW_DATABASE_POOL": "4"})
    assert (config.database_url, config.lease, config.calls_per_destination) == (
        "postgresql://faxgw@db/faxgw",
        6.0,
        0,
    )
    assert (config.node, config.database_pool) == ("fax2", 4)
    default = load_config(None, environ={})
    assert (default.database_url, default.lease, default.calls_per_destination) == (None, 30.0, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('database_url = "mysql://db/faxgw"', "postgresql://"),
        ('database_url = "/var/lib/faxgw.sqlite"', "postgresql://"),
        ("lease = 1", "lease at least 3 seconds"),
        ("database_pool = 0", "database_pool must be at least 1"),
        ("calls_per_destination = -1", "calls_per_destination 0 or more"),
    ],
)
def test_a_bad_setting_is_a_clear_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "faxgw.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})
