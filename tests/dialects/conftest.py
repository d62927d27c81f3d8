"""The dialect tests' fixtures: a real HTTP server of sample documents (the running gateway that faxes
itself and the webhook receiver are tests/conftest.py's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.dialects import SAMPLE, serving_directory


@pytest.fixture
def samples_server() -> Iterator[str]:
    """samples/: the base URL of ``media_url``s and ``file_urls``."""
    with serving_directory(SAMPLE.parent) as url:
        yield url
