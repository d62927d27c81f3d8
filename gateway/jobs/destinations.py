"""Where an outbound fax may be dialled: E.164 numbers go through the operator's trunk; a SIP URI only for a
tenant the operator allows (``sip_uri_destinations``), and then only to a host the address policy of
document URLs allows (``url_fetch_allow``/``url_fetch_deny``, ``gateway.netpolicy``).

The host is resolved once and every address checked, when the fax is submitted (the dialect's 4xx) and again
before every call; the engine then dials the checked address, written into the URI in place of the name, so a
second lookup (DNS rebinding) cannot send the call elsewhere.
"""

from __future__ import annotations

import dataclasses

from faxgw.gateway.config import Config, EngineKind
from faxgw.gateway.netpolicy import AddressError, AddressPolicy, checked_addresses
from faxgw.sip.message import SipParseError, SipUri

#: Transports a SIP URI destination may name: TLS (sips:, transport=tls) would check the peer's certificate
#: against the address we dial instead of the name, so it is not offered.
_TRANSPORTS = ("udp", "tcp")


class DestinationRefused(Exception):
    """Not a destination this tenant may dial; ``forbidden``: the tenant may not dial SIP URIs at all."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


def is_sip_uri(destination: str) -> bool:
    return destination.lower().startswith(("sip:", "sips:"))


def sip_uri_policy(config: Config) -> AddressPolicy:
    """The document URLs' policy, its refusals saying what the gateway would do there."""
    return dataclasses.replace(config.fetch_policy, action="call")


async def dialable(config: Config, tenant_id: str, destination: str) -> str:
    """``destination`` as the engine is to dial it: a number as it is (through the trunk), a SIP URI with its
    host replaced by a checked address. Raises ``DestinationRefused``."""
    if not is_sip_uri(destination):
        return destination
    tenant = next((tenant for tenant in config.tenants if tenant.id == tenant_id), None)
    if tenant is None or not tenant.sip_uri_destinations:
        raise DestinationRefused(
            "this account may not send to SIP URIs: give an E.164 number", forbidden=True
        )
    if config.engine is not EngineKind.NATIVE:
        raise DestinationRefused("SIP URI destinations need the native engine: give an E.164 number")
    try:
        uri = SipUri.parse(destination)
    except SipParseError as error:
        raise DestinationRefused(f"not a valid SIP URI ({error})") from None
    transport = (uri.params.get("transport") or "udp").lower()
    if uri.scheme != "sip" or transport not in _TRANSPORTS:
        raise DestinationRefused("only sip: URIs over UDP or TCP can be dialled (no sips:, no TLS)")
    if uri.user is None:
        raise DestinationRefused("a SIP URI destination needs a user part (sip:user@host)")
    if uri.headers or "maddr" in uri.params:
        # RFC 3261 19.1.1: maddr would send the request to another host than the one checked.
        raise DestinationRefused("a SIP URI destination may not carry headers or maddr")
    try:
        addresses = await checked_addresses(uri.host, sip_uri_policy(config))
    except AddressError as error:
        raise DestinationRefused(str(error)) from None
    return str(dataclasses.replace(uri, host=str(addresses[0])))
