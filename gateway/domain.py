"""The words every layer of the gateway says a fax in: its status (``FaxStatus``) and what happens to it
(``EventType``). Defined once, here, below the layers that store them (store, webhooks), produce them
(documents, jobs) and show them (service, api and its dialects), which all import these enums; a dialect
maps them to its provider's words in typed tables (``dict[FaxStatus, str]``, ``dict[EventType, str]``).

Values are the wire strings themselves (Fax.Plus's fax statuses, seeds "Fax Error Statuses"; the design's
event names): the database columns, the API's JSON and the webhooks carry exactly these.
"""

from __future__ import annotations

import enum
import re

#: ``failed_fs_<n>``: the call was up but T.30 failed with completion code n (SpanDSP's T30_ERR_*, as
#: FreeSWITCH reports it: 2/3 no fax machine answered, 8/9 incompatible, 48/49 remote hung up mid-fax).
_T30_FAILURE = re.compile(r"failed_fs_([0-9]{1,3})")


class FaxStatus(enum.StrEnum):
    """Where a fax stands. Final failures are the seed's statuses; ``failed_fs_<n>`` completes the set with
    the T.30 completion code (``t30_failure``, ``t30_code``). The seed's ``insufficient_credit`` has no
    place in a gateway without credit."""

    # Pending (ours: the seed only shows final statuses and in_progress).
    QUEUED = "queued"  # accepted, waiting: for send_time, for a retry, or for a free line
    SCHEDULED = "scheduled"  # the API's view of a queued fax whose send_time is ahead (never stored)
    PROCESSING = "processing"  # documents being turned into fax pages
    SENDING = "sending"  # a call is up or being set up
    IN_PROGRESS = "in_progress"  # being received: pages can already be fetched
    # Final.
    SUCCESS = "success"
    PARTIALLY_SENT = "partially_sent"
    PARTIALLY_RECEIVED = "partially_received"
    CANCELLED = "cancelled"  # ours: cancelled before it was sent
    FAILED = "failed"
    FAILED_INTERNAL_PROCESS_ERROR = "failed_internal_process_error"
    FAILED_USER_BUSY = "failed_user_busy"
    FAILED_NO_ANSWER = "failed_no_answer"
    FAILED_UNALLOCATED_NUMBER = "failed_unallocated_number"
    FAILED_INVALID_NUMBER_FORMAT = "failed_invalid_number_format"
    FAILED_DESTINATION_NOT_SUPPORTED = "failed_destination_not_supported"
    FAILED_TO_SEND = "failed_to_send"
    FAILED_NORMAL_TEMPORARY_FAILURE = "failed_normal_temporary_failure"
    FAILED_NORMAL_CLEARING = "failed_normal_clearing"
    FAILED_RENDER_HEADER_ISSUE = "failed_render_header_issue"
    # A document that could not become a fax (gateway.documents' ConversionError).
    #: Not a file type we can fax (detected from the content, never from the file name).
    FAILED_MIMETYPE_NOT_SUPPORTED = "failed_mimetype_not_supported"
    #: LibreOffice is missing or could not turn the Office document into a PDF.
    FAILED_OFFICE_CONVERTER_ISSUE = "failed_office_converter_issue"
    #: The seed's hint for this code is "check if the file is password-protected": we use it for exactly that.
    FAILED_UNKNOWN_CONVERTER_ISSUE = "failed_unknown_converter_issue"
    #: The document is empty, missing, damaged, or one of its pages cannot be rendered.
    FAILED_SEPARATE_FILE_PAGES_ISSUE = "failed_separate_file_pages_issue"
    #: An image (or a finished fax TIFF) cannot be decoded, is truncated, or is absurdly large.
    FAILED_IMAGE_PREPARATION = "failed_image_preparation"
    #: Something failed inside the converter itself rather than in the client's file.
    FAILED_CONVERT_TO_TIFF_ISSUE = "failed_convert_to_tiff_issue"
    #: Ours: the document has more pages than a fax may carry (``max_pages``; Telnyx's
    #: ``page_count_limit_exceeded``).
    FAILED_PAGE_COUNT_LIMIT_EXCEEDED = "failed_page_count_limit_exceeded"

    @classmethod
    def t30_failure(cls, t30_code: int) -> FaxStatus:
        """``failed_fs_<t30_code>``: the call was up, T.30 ended with this completion code."""
        return cls(f"failed_fs_{t30_code}")

    @property
    def t30_code(self) -> int | None:
        """The T.30 completion code of a ``failed_fs_<n>``; None for every other status."""
        match = _T30_FAILURE.fullmatch(self.value)
        return int(match.group(1)) if match else None

    @property
    def pending(self) -> bool:
        """Not finished yet: the fax may still change."""
        return self in PENDING

    @classmethod
    def _missing_(cls, value: object) -> FaxStatus | None:
        # The T.30 completion codes are an open set: a ``failed_fs_<n>`` becomes a member of its own the first
        # time it is named (as enum.Flag makes its combined members), kept so that it is always the same
        # object. Iterating the enum lists the fixed statuses only. Anything else is Enum's ValueError.
        if not isinstance(value, str) or _T30_FAILURE.fullmatch(value) is None:
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        known = cls._value2member_map_.setdefault(value, member)
        assert isinstance(known, cls)
        return known


#: The statuses of a fax that is not finished.
PENDING = frozenset(
    {FaxStatus.QUEUED, FaxStatus.SCHEDULED, FaxStatus.PROCESSING, FaxStatus.SENDING, FaxStatus.IN_PROGRESS}
)


class EventType(enum.StrEnum):
    """What happened to a fax (the design's internal event names): the native API's event stream and its
    webhooks say these; each dialect renames the ones its provider has."""

    QUEUED = "queued"
    MEDIA_PROCESSED = "media.processed"  # its documents are fax pages
    SENDING_STARTED = "sending.started"  # a call is being placed (again at each retry)
    PAGE_SENT = "page.sent"
    RETRY_SCHEDULED = "retry.scheduled"
    DELIVERED = "delivered"  # outbound: every page went across
    FAILED = "failed"  # outbound or inbound: how it failed is in the fax's status
    RECEIVING_STARTED = "receiving.started"
    PAGE_RECEIVED = "page.received"
    RECEIVED = "received"  # inbound: the call ended with pages


#: The events after which nothing more happens to a fax.
FINAL_EVENTS = frozenset({EventType.DELIVERED, EventType.FAILED, EventType.RECEIVED})
