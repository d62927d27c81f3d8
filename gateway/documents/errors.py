"""Why a document could not become a fax: error codes as Fax.Plus names them (seeds, "Fax Error Statuses")."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """The conversion failures a fax can end with. Each value is the provider status string itself."""

    #: Not a file type we can fax (detected from the content, never from the file name).
    MIMETYPE_NOT_SUPPORTED = "failed_mimetype_not_supported"
    #: LibreOffice is missing or could not turn the Office document into a PDF.
    OFFICE_CONVERTER_ISSUE = "failed_office_converter_issue"
    #: The seed's hint for this code is "check if the file is password-protected": we use it for exactly that.
    UNKNOWN_CONVERTER_ISSUE = "failed_unknown_converter_issue"
    #: The document is empty, missing, damaged, or one of its pages cannot be rendered.
    SEPARATE_FILE_PAGES_ISSUE = "failed_separate_file_pages_issue"
    #: An image (or a finished fax TIFF) cannot be decoded, is truncated, or is absurdly large.
    IMAGE_PREPARATION = "failed_image_preparation"
    #: Something failed inside the converter itself rather than in the client's file.
    CONVERT_TO_TIFF_ISSUE = "failed_convert_to_tiff_issue"


class ConversionError(Exception):
    """A document could not be turned into fax pages. Carries a provider error code and a human reason."""

    def __init__(self, code: ErrorCode, message: str, filename: str | None = None) -> None:
        super().__init__(code, message, filename)
        self.code = code
        self.message = message
        self.filename = filename

    def __str__(self) -> str:
        where = f"{self.filename}: " if self.filename else ""
        return f"{where}{self.message} ({self.code})"
