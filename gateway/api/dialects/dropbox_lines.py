"""Dropbox Fax's fax lines (``/v3/fax_line...``, the SDK's ``FaxLineApi``) as the gateway has them.

A Dropbox account buys its fax lines through the API; here a line is one of the operator's configured
numbers (``Config.numbers``) whose owner (``Config.owner``) is the key's tenant. So ``fax_line/list`` and
``fax_line`` (get) show those numbers as ``FaxLineResponseFaxLine``s, with the tenant as their one account,
and everything that would buy, release or share a line (``create``, ``delete``, ``add_user``,
``remove_user``) or look for numbers to buy (``area_codes``) is refused: ``REFUSAL``.
"""

from __future__ import annotations

from typing import Any

from faxgw.gateway.config import Config

#: Why the routes that change lines refuse: the dialect answers it as a 403 ``forbidden``.
REFUSAL = (
    "fax lines are the gateway operator's configuration (its numbers): they cannot be bought, released, "
    "shared or looked up through the API; ask the operator"
)


def numbers(config: Config, tenant_id: str) -> list[str]:
    """The tenant's fax lines: the configured numbers it owns, in the configuration's order."""
    return [entry.number for entry in config.numbers if config.owner(entry.number) == tenant_id]


def line(number: str, tenant_id: str) -> dict[str, Any]:
    """One line as the SDK's ``FaxLineResponseFaxLine``. A configured number has no creation or change
    time, so ``created_at``/``updated_at`` are left out (both are optional in the model)."""
    return {"number": number, "accounts": [{"account_id": tenant_id, "email_address": None}]}
