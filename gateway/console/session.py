"""Who is signed in to the console: a session in a signed cookie, its CSRF token, and the bound on failed
sign-ins.

The cookie holds the session itself (tenant, the key's id and scopes, a random id, the expiry), signed with
HMAC-SHA256 (RFC 2104) under the console's secret: nothing is kept per session on the server but the ids of
sessions signed out before they expired. The API key itself never goes into the cookie. The CSRF token of a
session is an HMAC of its id, sent back by the console's forms and scripts with each state-changing request
(the cookie alone, which the browser adds by itself, never suffices).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from faxgw.gateway.service import ApiKey

COOKIE = "faxgw_console"
SECRET_FILE = "console.secret"
#: Client addresses whose failed sign-ins are remembered at once: a flood of addresses forgets the oldest.
MAX_TRACKED_CLIENTS = 10_000


@dataclass(frozen=True)
class Session:
    id: str
    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    expires: float

    @property
    def key(self) -> ApiKey:
        """The API key the session was signed in with, as the native API's functions take it."""
        return ApiKey(self.key_id, self.tenant_id, self.scopes, 0.0)


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``; a new random one written there (readable by the owner only) if none."""
    if path.exists():
        return path.read_bytes()
    secret = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(secret)
    return secret


class Sessions:
    def __init__(self, secret: bytes, lifetime: float) -> None:
        self.secret = secret
        self.lifetime = lifetime
        self._signed_out: dict[str, float] = {}  # session id -> its expiry

    def _mac(self, purpose: bytes, data: bytes) -> str:
        digest = hmac.new(self.secret, purpose + b"\0" + data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def new(self, key: ApiKey) -> tuple[Session, str]:
        """A session of ``key``'s tenant and its cookie value."""
        session = Session(
            secrets.token_urlsafe(16), key.tenant_id, key.id, key.scopes, time.time() + self.lifetime
        )
        payload = json.dumps(
            [session.id, session.tenant_id, session.key_id, sorted(session.scopes), session.expires]
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return session, f"{body}.{self._mac(b'session', body.encode())}"

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie value: None unless it is ours, unaltered, unexpired and not signed out."""
        if not cookie or len(cookie) > 4096:
            return None
        body, _, mac = cookie.partition(".")
        if not hmac.compare_digest(mac, self._mac(b"session", body.encode())):
            return None
        try:
            session_id, tenant_id, key_id, scopes, expires = json.loads(
                base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            )
            session = Session(session_id, tenant_id, key_id, frozenset(scopes), float(expires))
        except (binascii.Error, ValueError, TypeError):
            return None
        if session.expires < time.time() or session.id in self._signed_out:
            return None
        return session

    def sign_out(self, session: Session) -> None:
        now = time.time()
        self._signed_out = {sid: at for sid, at in self._signed_out.items() if at > now}
        self._signed_out[session.id] = session.expires

    def csrf(self, session: Session) -> str:
        return self._mac(b"csrf", session.id.encode())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))


class SignInLimit:
    """At most ``limit`` failed sign-ins per client address in ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        return failures

    def blocked(self, client: str) -> bool:
        return len(self._recent(client)) >= self.limit

    def failed(self, client: str) -> None:
        failures = self._recent(client)
        failures.append(time.monotonic())
        self._failures.pop(client, None)
        self._failures[client] = failures  # the newest last: the oldest client is forgotten first
        if len(self._failures) > MAX_TRACKED_CLIENTS:
            del self._failures[next(iter(self._failures))]
