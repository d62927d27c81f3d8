"""The README's "Metrics" section lists every metric a gateway's registry has, and no other."""

from __future__ import annotations

import re

from faxgw.gateway.metrics import Metrics

from tests.helpers.sip import ROOT


def exposed_names() -> set[str]:
    """The names Prometheus sees: a counter's with ``_total`` (prometheus_client's families drop it)."""
    return {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in Metrics().registry.collect()
    }


def test_the_readme_lists_every_metric() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(faxgw_\w+)` \|", section, re.MULTILINE))
    assert listed == exposed_names()
