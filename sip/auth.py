"""SIP digest authentication (RFC 3261 22.4 over RFC 2617; RFC 7616 and RFC 8760 add SHA-256).

qop=auth and the legacy RFC 2069 form (no qop) are supported, with MD5, SHA-256 and their -sess variants.
qop=auth-int is not: a challenge that offers only auth-int is refused with AuthError.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ALGORITHMS",
    "NONCE_LIFETIME",
    "AuthError",
    "Authentication",
    "Challenge",
    "DigestClient",
    "DigestServer",
    "Verdict",
    "choose_challenge",
    "digest_response",
    "parse_auth_header",
]

#: RFC 7616 3.3 / RFC 8760 2.3 algorithm names, in the order a client prefers them (RFC 8760 2.4: a UAC
#: uses the strongest algorithm it supports among the challenges).
ALGORITHMS = ("SHA-256", "SHA-256-sess", "MD5", "MD5-sess")
_HASHES = {"SHA-256": "sha256", "MD5": "md5"}
#: How long a nonce from DigestServer stays fresh; after that it is stale (RFC 7616 3.3 "stale").
NONCE_LIFETIME = 300.0
#: A client forgets nonce counts for all but its most recent nonces.
_REMEMBERED_NONCES = 64


class AuthError(ValueError):
    """A challenge or credentials that cannot be parsed or used."""


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_WS = " \t"


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """The scheme and the auth-params of a WWW-Authenticate, Authorization (or Proxy-) header value.

    RFC 3261 25.1 / RFC 7235 2.1: ``scheme name=value, name="quoted value", ...``. Tolerant of LWS anywhere
    between the pieces, of unquoted values that should be quoted and of stray commas. Names come back
    lower-case, quoted values unescaped; a repeated name keeps its first value.
    """
    text = value.strip(_WS)
    scheme_match = _TOKEN.match(text)
    if scheme_match is None:
        raise AuthError(f"no authentication scheme in {text[:40]!r}")
    scheme = scheme_match.group()
    params: dict[str, str] = {}
    i = scheme_match.end()
    if i < len(text) and text[i] not in _WS:
        raise AuthError(f"bad authentication scheme in {text[:40]!r}")
    while i < len(text):
        while i < len(text) and text[i] in " \t,":
            i += 1
        if i >= len(text):
            break
        name_match = _TOKEN.match(text, i)
        if name_match is None:
            raise AuthError(f"bad auth-param at {text[i : i + 20]!r}")
        name = name_match.group().lower()
        i = name_match.end()
        while i < len(text) and text[i] in _WS:
            i += 1
        if i >= len(text) or text[i] != "=":
            raise AuthError(f"auth-param {name!r} without a value")
        i += 1
        while i < len(text) and text[i] in _WS:
            i += 1
        if i < len(text) and text[i] == '"':
            chars: list[str] = []
            i += 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= len(text):
                raise AuthError(f"unterminated quoted value for {name!r}")
            i += 1
            param = "".join(chars)
        else:
            start = i
            while i < len(text) and text[i] not in " \t,":
                i += 1
            param = text[start:i]
        params.setdefault(name, param)
    return scheme, params


def _canonical_algorithm(name: str) -> str:
    """RFC 7616 3.3: algorithm names are case-insensitive; unknown ones are kept as written."""
    for known in ALGORITHMS:
        if known.lower() == name.lower():
            return known
    return name


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Challenge:
    """A Digest challenge from a WWW-Authenticate or Proxy-Authenticate header (RFC 3261 22.1, 25.1)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"  # RFC 2617 3.2.1: absent means MD5
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, header_value: str) -> Challenge:
        scheme, params = parse_auth_header(header_value)
        if scheme.lower() != "digest":
            raise AuthError(f"not a Digest challenge: {scheme}")
        if "realm" not in params or "nonce" not in params:
            raise AuthError("Digest challenge without realm or nonce")
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=_canonical_algorithm(params.get("algorithm", "MD5")),
            qop=tuple(q.strip(_WS).lower() for q in params.get("qop", "").split(",") if q.strip(_WS)),
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )

    def __str__(self) -> str:
        parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(self.nonce)}", f"algorithm={self.algorithm}"]
        if self.qop:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)

    @property
    def usable(self) -> bool:
        """Whether DigestClient can answer it: a known algorithm, and qop=auth or no qop at all."""
        if self.algorithm not in ALGORITHMS:
            return False
        if self.qop:
            return "auth" in self.qop
        return not self.algorithm.endswith("-sess")  # -sess needs the cnonce only qop carries


def choose_challenge(header_values: list[str]) -> Challenge:
    """The challenge to answer among several (e.g. one SHA-256 and one MD5 for the same realm): the first
    usable one with the strongest algorithm (RFC 8760 2.4). Non-Digest schemes are skipped."""
    usable: list[Challenge] = []
    for value in header_values:
        try:
            challenge = Challenge.parse(value)
        except AuthError:
            continue
        if challenge.usable:
            usable.append(challenge)
    if not usable:
        raise AuthError("no usable Digest challenge (need MD5 or SHA-256, with qop=auth or no qop)")
    return min(usable, key=lambda challenge: ALGORITHMS.index(challenge.algorithm))


def _hash(algorithm: str, text: str) -> str:
    name = _HASHES[algorithm.removesuffix("-sess")]
    return hashlib.new(name, text.encode(), usedforsecurity=False).hexdigest()


def digest_response(
    algorithm: str,
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The request-digest (RFC 7616 3.4.1, RFC 2617 3.2.2.1; RFC 2069 when qop is None)."""
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    if algorithm.endswith("-sess"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")  # RFC 7616 3.4.2
    ha2 = _hash(algorithm, f"{method}:{uri}")  # RFC 7616 3.4.3, qop=auth
    if qop is None:
        return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


@dataclass
class DigestClient:
    """Our credentials, answering challenges. Counts nc per nonce, so a nonce can be reused (RFC 7616 3.4)."""

    username: str
    password: str = field(repr=False)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def authorization(
        self, challenge: Challenge, method: str, uri: str, body: bytes = b"", *, cnonce: str | None = None
    ) -> str:
        """The Authorization / Proxy-Authorization header value answering ``challenge`` for a request.

        ``uri`` is the Request-URI as sent (RFC 3261 22.4). ``body`` is for qop=auth-int, which is not
        supported yet. ``cnonce`` is random unless given (tests).
        """
        if challenge.algorithm not in ALGORITHMS:
            raise AuthError(f"unsupported digest algorithm {challenge.algorithm}")
        if challenge.qop and "auth" not in challenge.qop:
            raise AuthError(f"unsupported qop {','.join(challenge.qop)} (only auth is implemented)")
        qop = "auth" if challenge.qop else None
        if qop is None and challenge.algorithm.endswith("-sess"):
            raise AuthError(f"{challenge.algorithm} without qop")
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(challenge.realm)}",
            f"nonce={_quote(challenge.nonce)}",
            f"uri={_quote(uri)}",
        ]
        if qop is None:
            response = digest_response(
                challenge.algorithm,
                username=self.username,
                realm=challenge.realm,
                password=self.password,
                method=method,
                uri=uri,
                nonce=challenge.nonce,
            )
            parts += [f'response="{response}"', f"algorithm={challenge.algorithm}"]
        else:
            cnonce = cnonce or secrets.token_hex(8)
            nc = f"{self._next_count(challenge):08x}"
            response = digest_response(
                challenge.algorithm,
                username=self.username,
                realm=challenge.realm,
                password=self.password,
                method=method,
                uri=uri,
                nonce=challenge.nonce,
                qop=qop,
                nc=nc,
                cnonce=cnonce,
            )
            parts += [
                f'response="{response}"',
                f"algorithm={challenge.algorithm}",
                f"cnonce={_quote(cnonce)}",
                f"qop={qop}",
                f"nc={nc}",
            ]
        if challenge.opaque is not None:
            parts.append(f"opaque={_quote(challenge.opaque)}")
        return "Digest " + ", ".join(parts)

    def _next_count(self, challenge: Challenge) -> int:
        key = (challenge.realm, challenge.nonce)
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count  # re-inserted: the dict stays in order of last use
        while len(self._counts) > _REMEMBERED_NONCES:
            del self._counts[next(iter(self._counts))]
        return count


class Verdict(enum.Enum):
    """What DigestServer.check() found. Only OK admits the request; on STALE, challenge again with
    stale=True (the credentials were right, the nonce had expired: RFC 7616 3.3)."""

    OK = "ok"
    STALE = "stale"
    MALFORMED = "malformed"
    BAD_NONCE = "bad nonce"
    UNKNOWN_USER = "unknown user"
    BAD_RESPONSE = "bad response"
    REPLAY = "replayed nonce count"


@dataclass(frozen=True)
class Authentication:
    """What a request's credentials come to (``DigestServer.authenticate``): exactly one field is set."""

    user: str | None = None  # the username they proved: admit
    challenges: tuple[str, ...] = ()  # none yet, or a nonce to renew: answer 401 with these
    refused: str = ""  # wrong (the reasons, for the log): answer 403


_NONCE_PAYLOAD = struct.Struct(">d8s")
_NONCE_MAC_BYTES = 16


class DigestServer:
    """Issues Digest challenges and checks the answers, for inbound requests and for our own tests.

    Nonces carry their issue time and an HMAC, so no state is needed to recognise our own fresh nonces;
    only the nonce counts seen (replay protection) are remembered, until their nonce expires.
    """

    def __init__(
        self,
        realm: str,
        credentials: Callable[[str], str | None],
        *algorithms: str,
        nonce_lifetime: float = NONCE_LIFETIME,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.realm = realm
        #: The algorithms offered, most preferred first (default MD5 alone); answers in any are checked.
        self.algorithms = tuple(_canonical_algorithm(name) for name in algorithms or ("MD5",))
        for name in self.algorithms:
            if name not in ALGORITHMS:
                raise ValueError(f"unsupported digest algorithm {name!r}: one of {', '.join(ALGORITHMS)}")
        self.credentials = credentials
        self.nonce_lifetime = nonce_lifetime
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock
        self._seen: dict[str, tuple[float, set[int]]] = {}

    def challenge(self, stale: bool = False) -> str:
        """A WWW-Authenticate / Proxy-Authenticate value with a fresh nonce and qop="auth", in the most
        preferred algorithm."""
        return self.challenges(stale)[0]

    def challenges(self, stale: bool = False) -> list[str]:
        """One challenge per algorithm, most preferred first: a response carries them all as separate
        header fields and the client answers the strongest it supports (RFC 8760 2.4, RFC 7616 3.7)."""
        nonce = self._new_nonce()
        return [str(Challenge(self.realm, nonce, name, ("auth",), stale=stale)) for name in self.algorithms]

    def authenticate(
        self, authorizations: list[str], method: str, *, uri: str | None = None
    ) -> Authentication:
        """RFC 3261 22.4 as the UAS: a request's Authorization values (any number) checked with check().

        Admitted when one checks out; challenged again when there are none, or only nonces of ours that
        expired (RFC 7616 3.3: stale=true, the password was right) or that we did not issue (e.g. before
        a restart); refused otherwise.
        """
        verdicts: dict[Verdict, str] = {}
        for value in authorizations:
            verdicts.setdefault(self.check(value, method, uri=uri), value)
        if Verdict.OK in verdicts:
            return Authentication(user=parse_auth_header(verdicts[Verdict.OK])[1]["username"])
        if set(verdicts) <= {Verdict.BAD_NONCE, Verdict.STALE}:
            return Authentication(challenges=tuple(self.challenges(stale=Verdict.STALE in verdicts)))
        return Authentication(refused=", ".join(sorted(verdict.value for verdict in verdicts)))

    def verify(self, authorization: str, method: str, *, uri: str | None = None) -> bool:
        """Whether ``authorization`` admits the request: see check()."""
        return self.check(authorization, method, uri=uri) is Verdict.OK

    def check(self, authorization: str, method: str, *, uri: str | None = None) -> Verdict:
        """Check an Authorization / Proxy-Authorization value for a ``method`` request: our realm, one of
        our algorithms, qop=auth, a nonce we issued and that is still fresh, a known user, the right response,
        and an nc not used before with that nonce. With ``uri``, the digest-uri must also equal it (RFC 2617
        3.2.2.5). Never raises for bad input.
        """
        try:
            scheme, params = parse_auth_header(authorization)
        except AuthError:
            return Verdict.MALFORMED
        required = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if scheme.lower() != "digest" or any(name not in params for name in required):
            return Verdict.MALFORMED
        algorithm = _canonical_algorithm(params.get("algorithm", "MD5"))
        if (
            params["realm"] != self.realm
            or algorithm not in self.algorithms
            or params["qop"].lower() != "auth"  # we always offer qop=auth, so RFC 2069 answers are not valid
            or not re.fullmatch(r"[0-9A-Fa-f]{8}", params["nc"])
            or (uri is not None and params["uri"] != uri)
        ):
            return Verdict.MALFORMED
        nonce = params["nonce"]
        issued = self._nonce_time(nonce)
        if issued is None:
            return Verdict.BAD_NONCE
        password = self.credentials(params["username"])
        if password is None:
            return Verdict.UNKNOWN_USER
        expected = digest_response(
            algorithm,
            username=params["username"],
            realm=self.realm,
            password=password,
            method=method,
            uri=params["uri"],
            nonce=nonce,
            qop="auth",
            nc=params["nc"],
            cnonce=params["cnonce"],
        )
        if not hmac.compare_digest(expected.encode(), params["response"].lower().encode()):
            return Verdict.BAD_RESPONSE
        now = self._clock()
        if not issued <= now <= issued + self.nonce_lifetime:
            return Verdict.STALE
        self._forget_expired(now)
        counts = self._seen.setdefault(nonce, (issued, set()))[1]
        nc = int(params["nc"], 16)
        if nc in counts:
            return Verdict.REPLAY
        counts.add(nc)
        return Verdict.OK

    def _new_nonce(self) -> str:
        payload = _NONCE_PAYLOAD.pack(self._clock(), secrets.token_bytes(8))
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode().rstrip("=")

    def _nonce_time(self, nonce: str) -> float | None:
        """When we issued ``nonce``, or None if we did not."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return None
        payload, mac = raw[: _NONCE_PAYLOAD.size], raw[_NONCE_PAYLOAD.size :]
        if len(payload) != _NONCE_PAYLOAD.size or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        issued: float = _NONCE_PAYLOAD.unpack(payload)[0]
        return issued

    def _mac(self, payload: bytes) -> bytes:
        message = self.realm.encode() + b"\0" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_NONCE_MAC_BYTES]

    def _forget_expired(self, now: float) -> None:
        expired = [n for n, (issued, _) in self._seen.items() if now > issued + self.nonce_lifetime]
        for nonce in expired:
            del self._seen[nonce]
