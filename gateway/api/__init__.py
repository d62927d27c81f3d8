"""The REST API: the native dialect (``/v1/...``) and the provider dialects.

- ``models``: request and response bodies, limits, the fax status set
- ``errors``: ``ApiError`` and ``install_error_handlers`` (every error is ``{"error", "description"}`` JSON)
"""
