"""The web console's settings ([console]): whether the gateway serves it, and how long a sign-in lasts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleConfig:
    #: Serve the console at /console/ on the API's port.
    enabled: bool = True
    #: Seconds a sign-in lasts; then the tenant signs in again.
    session_lifetime: float = 8 * 3600.0
    #: The key session cookies are signed with (HMAC-SHA256). None: a random one, kept in
    #: data_dir/console.secret, so that sessions outlive a restart. Nodes sharing one domain need the same.
    secret: str | None = None
    #: Failed sign-ins one client address may make per ``sign_in_window`` seconds; then 429 until it passes.
    max_failed_sign_ins: int = 5
    sign_in_window: float = 300.0
