"""A mail to fax, read: its attachments, its subject and its plain text (RFC 5322 / MIME, RFC 2045-2049).
A pure function; what it cannot use is a ``Refusal`` carrying the SMTP reply that says why."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser


class Refusal(Exception):
    """The reply to give instead of accepting the mail: a full SMTP reply line (code, RFC 3463 enhanced
    status, text)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes


@dataclass(frozen=True)
class FaxMail:
    subject: str
    text: str  # the first text/plain part that is not an attachment ("" for none)
    message_id: str
    attachments: tuple[Attachment, ...]


def read(content: bytes) -> FaxMail:
    """The parts of a mail a fax is made of; ``Refusal`` when it has nothing to fax or cannot be read."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)  # what policy.default builds
        subject = str(message.get("Subject", "") or "")
        message_id = str(message.get("Message-ID", "") or "")
        text = ""
        attachments: list[Attachment] = []
        for part in message.walk():
            if part.is_multipart():
                continue
            name = part.get_filename()
            if part.get_content_disposition() == "attachment" or name:
                attachments.append(_attachment(part, name or f"attachment-{len(attachments) + 1}"))
            elif part.get_content_type() == "text/plain" and not text:
                text = _text(part)
    except Refusal:
        raise
    except Exception as error:  # the email package has many ways to fail on hostile MIME; all mean this
        raise Refusal(f"554 5.6.0 The message cannot be read as MIME: {type(error).__name__}") from None
    if not attachments:
        raise Refusal("554 5.6.0 No attachment: attach the document (PDF, TIFF, image, text or office file)")
    return FaxMail(subject.strip(), text.strip(), message_id.strip(), tuple(attachments))


def _attachment(part: Message, name: str) -> Attachment:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or not data:
        raise Refusal(f"554 5.6.0 Attachment {name!r} is empty")
    return Attachment(name, data)


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know: keep what is readable
        return data.decode("latin-1")
