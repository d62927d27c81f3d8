"""Documents to fax pages and back.

- ``convert``: PDF, Office (through LibreOffice), text and image files, plus an optional ``CoverPage``, into
  one TIFF-F file every page of which has been checked (``FaxDocument``)
- ``validate_fax_tiff``: whether a TIFF is fit to send, and its page count
- ``render_received``: a received fax TIFF as a lossless PDF and PNG previews (``ReceivedDocument``)
- ``page_differences``: per page, how many pixels a received fax differs from the sent one
- every failure is a ``ConversionError`` whose ``code`` is the fax's status (``gateway.domain.FaxStatus``)
"""

from faxgw.gateway.documents.compare import page_differences
from faxgw.gateway.documents.convert import FaxDocument, convert
from faxgw.gateway.documents.cover import CoverPage
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.received import ReceivedDocument, render_received
from faxgw.gateway.documents.validate import validate_fax_tiff

__all__ = [
    "ConversionError",
    "CoverPage",
    "FaxDocument",
    "ReceivedDocument",
    "convert",
    "page_differences",
    "render_received",
    "validate_fax_tiff",
]
