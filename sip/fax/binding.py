"""Loads the compiled SpanDSP binding and routes SpanDSP's own log lines into Python logging.

Everything else in ``sip.fax`` imports ``ffi`` and ``lib`` from here, so a missing build is
reported once, with the command that fixes it.
"""

from __future__ import annotations

import logging

try:
    from faxgw.sip.fax._spandsp import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "The SpanDSP binding (sip.fax._spandsp) is not built. Install the Debian packages "
        "libspandsp-dev and libtiff-dev, then reinstall the project (pip install -e .)."
    ) from exc

__all__ = ["attach_log", "c_string", "ffi", "lib"]

log = logging.getLogger("sip.fax.spandsp")

# SpanDSP severities -> Python logging levels. SpanDSP "warnings" are routine call events ("ECM
# carrier not found" on every non-ECM page); what matters about a call is in its completion code.
_LEVELS = {
    lib.SPAN_LOG_ERROR: logging.ERROR,
    lib.SPAN_LOG_WARNING: logging.INFO,
    lib.SPAN_LOG_PROTOCOL_ERROR: logging.INFO,
    lib.SPAN_LOG_PROTOCOL_WARNING: logging.INFO,
    lib.SPAN_LOG_FLOW: logging.DEBUG,
    lib.SPAN_LOG_DEBUG: logging.DEBUG,
}
_SEVERITY_MASK = 0xFF


def c_string(pointer) -> str:
    """A C string from SpanDSP as text ('' for NULL). T.30 idents are ASCII; be lenient anyway."""
    if pointer == ffi.NULL:
        return ""
    return ffi.string(pointer).decode("latin-1")


@ffi.def_extern()
def _on_log_message(level: int, text) -> None:
    log.log(_LEVELS.get(level & _SEVERITY_MASK, logging.DEBUG), "%s", c_string(text).rstrip())


@ffi.def_extern()
def _on_log_error(text) -> None:
    log.error("%s", c_string(text).rstrip())


def attach_log(state, tag: str) -> object:
    """Send one SpanDSP component's log to Python logging, tagged with ``tag``.

    Returns the C buffer holding the tag: SpanDSP 0.0.6 stores the pointer without copying it,
    so the caller must keep the returned object alive as long as ``state`` lives.
    The level follows the Python logger, so protocol detail costs nothing unless asked for.
    """
    severity = lib.SPAN_LOG_FLOW if log.isEnabledFor(logging.DEBUG) else lib.SPAN_LOG_WARNING
    lib.span_log_set_level(
        state, severity | lib.SPAN_LOG_SHOW_SEVERITY | lib.SPAN_LOG_SHOW_PROTOCOL | lib.SPAN_LOG_SHOW_TAG
    )
    tag_buffer = ffi.new("char[]", tag.encode("ascii", "replace"))
    lib.span_log_set_tag(state, tag_buffer)
    lib.span_log_set_message_handler(state, lib._on_log_message)
    lib.span_log_set_error_handler(state, lib._on_log_error)
    return tag_buffer
