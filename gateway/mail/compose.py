"""The mails the gateway writes: a received fax (its PDF attached) and the outcome of a fax that came by
e-mail (a reply to it). Pure functions of the fax; the PDF is read from disk by the caller's thread."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from faxgw.gateway.config import RouteConfig
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.store import FaxRecord

#: The e-mail-to-fax request a fax keeps (``FaxRecord.request["dialects"]["email"]``): who to answer.
EMAIL_FIELDS = "email"


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def template_fields(fax: FaxRecord) -> dict[str, str]:
    """What a route's subject and body templates may name (``gateway.mailconfig.TEMPLATE_FIELDS``)."""
    return {
        "fax_id": fax.id,
        "from": fax.from_number,
        "to": fax.to_number,
        "pages": str(fax.pages_transferred),
        "status": str(fax.status),
        "reason": fax.error_description or "",
        "received_at": _when(fax.completed_at or fax.updated_at),
        "remote_station_id": fax.remote_station_id or "",
        "tenant": fax.tenant_id,
    }


def received_fax(fax: FaxRecord, route: RouteConfig, sender: str) -> EmailMessage:
    """The mail of a received fax to the route's addresses, its pages as ``<fax id>.pdf`` (none: a fax
    that failed before its first page)."""
    fields = template_fields(fax)
    message = _message(sender, route.email_to, route.email_subject.format(**fields))
    message.set_content(route.email_body.format(**fields))
    pdf = Path(fax.document).with_name("received.pdf") if fax.document else None
    if pdf is not None and pdf.exists():
        message.add_attachment(
            pdf.read_bytes(), maintype="application", subtype="pdf", filename=f"{fax.id}.pdf"
        )
    return message


def outcome(fax: FaxRecord, request: dict[str, str], sender: str) -> EmailMessage:
    """The answer to the mail that asked for ``fax``: whether it went, its status as the API shows it and,
    when it failed, why; threaded under the original (RFC 5322 3.6.4)."""
    went = fax.status is FaxStatus.SUCCESS
    verdict = "sent" if went else "NOT sent"
    subject = f"Fax to {fax.to_number} {verdict}: {fax.status}"
    message = _message(sender, (request["reply_to"],), subject)
    if request.get("message_id"):
        message["In-Reply-To"] = request["message_id"]
        message["References"] = request["message_id"]
    lines = [
        f'Your fax to {fax.to_number} ("{request.get("subject", "")}") was {verdict}.',
        "",
        f"Status: {fax.status}",
        f"Pages: {fax.pages_transferred} of {fax.pages_total or 0}",
        f"Attempts: {fax.attempts_made}",
        f"Fax id: {fax.id}",
    ]
    if not went:
        lines.insert(3, f"Reason: {fax.error_description or fax.error_code or 'unknown'}")
    message.set_content("\n".join(lines) + "\n")
    return message


def _message(sender: str, recipients: tuple[str, ...], subject: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    return message
