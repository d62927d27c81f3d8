"""The dialect tests' shared fixtures: the real HTTP receiver that webhooks are sent to."""

from tests.webhooks.conftest import receiver  # noqa: F401  (re-exported as a fixture)
