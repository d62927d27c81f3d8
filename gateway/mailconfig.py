"""E-mail settings (``[mail]``): the SMTP server the gateway sends through, the SMTP listener that turns
mail into faxes, and the accounts allowed to use it; and the templates of a route's fax-to-e-mail.

Plain frozen dataclasses, checked when built; ``gateway.config`` reads them from the TOML file,
``gateway.mail`` sends with them and ``gateway.smtp`` listens with them.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass
from pathlib import Path

#: The fields a fax-to-e-mail subject or body template may name ({from}, {pages}, ...).
TEMPLATE_FIELDS = frozenset(
    {"fax_id", "from", "to", "pages", "status", "reason", "received_at", "remote_station_id", "tenant"}
)
DEFAULT_SUBJECT = "Fax from {from} to {to} ({pages} pages, {status})"
DEFAULT_BODY = (
    "A fax arrived at {received_at}.\n\nFrom: {from}\nTo: {to}\nPages: {pages}\nStatus: {status} {reason}\n"
    "Fax id: {fax_id}\n"
)
#: How mail is sent securely: "starttls" (plain connection, then STARTTLS, RFC 3207, required), "tls"
#: (implicit TLS from the first byte, the submissions port 465 of RFC 8314 3.3), "none" (plain SMTP: a
#: local relay only).
SMTP_SECURITY = ("starttls", "tls", "none")
#: A recipient of the listener: a fax number, optionally with a +, then @ the configured domain.
_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class MailError(ValueError):
    """A ``[mail]`` setting or route template the gateway cannot use (reported as a ConfigError)."""


def check_template(where: str, template: str) -> str:
    """``template`` as given, once every ``{field}`` it names is one of ``TEMPLATE_FIELDS``: a typo is
    found when the gateway starts, not when the first fax arrives."""
    try:
        named = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:  # an unmatched { or }
        raise MailError(f"{where}: {error}") from None
    unknown = sorted(name for name in named if name not in TEMPLATE_FIELDS)
    if unknown:
        raise MailError(
            f"{where}: unknown field(s) {', '.join('{' + n + '}' for n in unknown)};"
            f" use {', '.join(sorted(TEMPLATE_FIELDS))}"
        )
    return template


def fax_number(local_part: str) -> str | None:
    """The fax number a recipient's local part names (``15551234567`` or ``+15551234567``), else None."""
    return local_part if _NUMBER.fullmatch(local_part) else None


@dataclass(frozen=True)
class MailAccount:
    """Who may send faxes by e-mail for ``tenant``: logs in (SMTP AUTH) as ``username``/``password`` and
    sends from one of ``senders`` (addresses, or ``@example.com`` for a whole domain). The faxes go out
    from ``fax_from`` (one of the tenant's numbers; "no_number" for none) and, with ``cover_page``, the
    mail's subject and text make a cover page in front of the attachments."""

    tenant: str
    username: str
    password: str
    senders: tuple[str, ...]
    fax_from: str = "no_number"
    cover_page: bool = True

    def __post_init__(self) -> None:
        if not self.username or not self.password:
            raise MailError(f"mail account of tenant {self.tenant}: username and password are required")
        if not self.senders:
            raise MailError(f"mail account {self.username}: senders (the allow-list) is empty")
        object.__setattr__(self, "senders", tuple(sender.lower() for sender in self.senders))

    def allows(self, address: str) -> bool:
        """Whether mail from ``address`` may be faxed (exact address, or its ``@domain``)."""
        address = address.lower()
        return address in self.senders or "@" + address.rpartition("@")[2] in self.senders


@dataclass(frozen=True)
class MailConfig:
    """``[mail]``. Sending (fax-to-e-mail, and the outcome of e-mailed faxes): through ``smtp_host``, secured
    as ``smtp_security`` says (``SMTP_SECURITY``), with AUTH when ``smtp_username`` is set; from
    ``sender``. A mail not accepted is retried ``retries`` times, the delay doubling from ``retry_delay``.

    Listening (e-mail-to-fax): when ``listen_port`` is set, on ``listen_host``, for ``NUMBER@domain``;
    STARTTLS with ``tls_cert``/``tls_key``. AUTH is offered only after STARTTLS, unless
    ``plaintext_auth`` is on and ``listen_host`` is a loopback address (a local MTA hands mail over)."""

    smtp_host: str | None = None  # None: the gateway sends no mail
    smtp_port: int | None = None  # None: 465 with smtp_security "tls", else 587 (RFC 8314 3.3, RFC 6409)
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_ca_file: Path | None = None  # trust this CA for TLS (a private relay); default: the system's
    smtp_timeout: float = 30.0
    sender: str = "faxgw@localhost"
    retries: int = 10
    retry_delay: float = 60.0

    listen_host: str = "127.0.0.1"
    listen_port: int | None = None  # None: no SMTP listener
    domain: str = "fax.example.com"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    plaintext_auth: bool = False
    max_message_size: int = 20 * 1024 * 1024  # bytes (SMTP SIZE, RFC 1870)
    max_recipients: int = 10
    max_connections: int = 20
    session_timeout: float = 300.0  # seconds a whole SMTP session may last
    accounts: tuple[MailAccount, ...] = ()

    def __post_init__(self) -> None:
        if self.smtp_security not in SMTP_SECURITY:
            raise MailError(
                f"mail.smtp_security = {self.smtp_security!r}: use {' | '.join(map(repr, SMTP_SECURITY))}"
            )
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise MailError("mail.smtp_username and mail.smtp_password go together")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise MailError("mail.tls_cert and mail.tls_key go together")
        if self.listen_port is not None and self.tls_cert is None and not self.plaintext_auth:
            raise MailError(
                "mail.listen_port: AUTH needs STARTTLS (mail.tls_cert and mail.tls_key), or plaintext_auth"
                " on a loopback listen_host"
            )
        if self.plaintext_auth and not _loopback(self.listen_host):
            raise MailError("mail.plaintext_auth: only on a loopback listen_host (passwords go in clear)")
        if min(self.max_message_size, self.max_recipients, self.max_connections) < 1:
            raise MailError("mail.max_message_size, max_recipients and max_connections must be at least 1")
        if self.retries < 0 or self.retry_delay <= 0 or self.session_timeout <= 0:
            raise MailError("mail.retries cannot be negative; retry_delay and session_timeout are above 0")
        names = [account.username for account in self.accounts]
        doubles = sorted({name for name in names if names.count(name) > 1})
        if doubles:
            raise MailError(f"mail account(s) {', '.join(doubles)} configured more than once")

    @property
    def sends(self) -> bool:
        return self.smtp_host is not None

    @property
    def submission_port(self) -> int:
        """The port mail is sent to: ``smtp_port``, else the one of ``smtp_security``."""
        if self.smtp_port is not None:
            return self.smtp_port
        return 465 if self.smtp_security == "tls" else 587

    def account(self, username: str) -> MailAccount | None:
        return next((account for account in self.accounts if account.username == username), None)
