"""The convert_processes setting: how many Ghostscript processes render one PDF at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_says_one_per_core_and_the_environment_overrides_it() -> None:
    assert load_config(ROOT / "faxgw.sample.toml", environ={}).convert_processes == 0
    assert load_config(None, environ={"FAXGW_CONVERT_PROCESSES": "3"}).convert_processes == 3


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ConfigError, match="convert_processes must be 0"):
        load_config(None, environ={"FAXGW_CONVERT_PROCESSES": "-1"})
