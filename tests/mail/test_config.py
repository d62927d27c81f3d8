"""[mail] and a route's e-mail settings as read from the TOML file: a template naming an unknown field, AUTH
in clear off loopback, an account of no tenant, mail with no server are refused when the gateway starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.config import ConfigError, load_config

BASE = """
[[tenants]]
id = "acme"
[[numbers]]
number = "+15550100"
tenant = "acme"
"""
MAIL = """
[mail]
smtp_host = "smtp.example.com"
listen_port = 2525
plaintext_auth = true
[[mail.accounts]]
tenant = "acme"
username = "scanner"
password = "secret"
senders = ["scanner@example.com", "@office.example.com"]
fax_from = "+15550100"
"""
ROUTE = """
[[routes]]
did = "+15550100"
tenant = "acme"
email_to = "inbox@example.com"
email_subject = "{subject}"
"""


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "faxgw.toml"
    path.write_text(text)
    return load_config(path, environ or {})


def test_read_as_written(tmp_path: Path) -> None:
    route = ROUTE.replace("{subject}", "Fax {fax_id}: {pages} pages from {from}")
    config = load(
        tmp_path, BASE + MAIL + route, {"FAXGW_MAIL_SMTP_PASSWORD": "x", "FAXGW_MAIL_SMTP_USERNAME": "u"}
    )
    assert config.mail.smtp_password == "x" and config.mail.listen_port == 2525
    [account] = config.mail.accounts
    assert account.allows("Scanner@example.com") and account.allows("bob@office.example.com")
    assert not account.allows("bob@example.com")
    [route_config] = config.routes
    assert route_config.email_to == ("inbox@example.com",) and route_config.email_failed is True


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (BASE + MAIL + ROUTE, "unknown field(s) {subject}"),
        (BASE + MAIL + ROUTE.replace("{subject}", "{pages"), "email_subject"),
        (
            BASE + MAIL.replace("listen_port = 2525", 'listen_port = 2525\nlisten_host = "0.0.0.0"'),
            "loopback",
        ),
        (BASE + MAIL.replace("plaintext_auth = true", ""), "STARTTLS"),
        (BASE + MAIL.replace('tenant = "acme"\nusername', 'tenant = "nobody"\nusername'), "not configured"),
        (BASE + MAIL.replace("senders = [", "senders = [] #"), "allow-list"),
        (BASE + MAIL + "bogus = 1\n", "unknown setting(s) bogus"),
        (BASE + ROUTE.replace("{subject}", "x"), "no smtp_host"),
        (
            BASE + MAIL.replace("[mail]", '[mail]\nsmtp_security = "ssl"'),
            "mail.smtp_security = 'ssl': use 'starttls' | 'tls' | 'none'",
        ),
        (
            BASE + MAIL.replace("[mail]", "[mail]\nsmtp_starttls = true"),
            'replaced by mail.smtp_security = "starttls" | "tls" | "none"',
        ),
    ],
)
def test_refused_at_start(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, text)
    assert says in str(refused.value)


def test_missing_certificate_files_are_named(tmp_path: Path) -> None:
    text = BASE + MAIL.replace("plaintext_auth = true", 'tls_cert = "nowhere.crt"\ntls_key = "nowhere.key"')
    with pytest.raises(ConfigError, match=r"mail\.tls_cert: no file nowhere\.crt"):
        load(tmp_path, text)


def test_the_port_follows_the_security(tmp_path: Path) -> None:
    """Implicit TLS goes to the submissions port 465 (RFC 8314 3.3), STARTTLS to 587; smtp_port over both."""
    assert load(tmp_path, BASE + MAIL).mail.submission_port == 587
    implicit = load(tmp_path, BASE + MAIL.replace("[mail]", '[mail]\nsmtp_security = "tls"')).mail
    assert (implicit.smtp_security, implicit.submission_port) == ("tls", 465)
    assert (
        load(
            tmp_path, BASE + MAIL.replace("[mail]", '[mail]\nsmtp_security = "tls"\nsmtp_port = 2465')
        ).mail.submission_port
        == 2465
    )


def test_the_old_starttls_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"smtp_starttls is replaced by mail\.smtp_security"):
        load(tmp_path, BASE + MAIL, {"FAXGW_MAIL_SMTP_STARTTLS": "false"})
