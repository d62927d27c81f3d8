"""The REST API: the native dialect (``/v1/...``) and the provider dialects, over ``gateway.service.Gateway``
(its only door to the store and the jobs).

- ``app``: ``create_app`` mounts the list of dialects and registers their webhook renderers
- ``dialect``: the one shape of a dialect (router, key scheme, error shape, webhook renderer)
- ``auth``: API keys (bearer, or Dropbox Sign's basic auth), as a route dependency
- ``native``: the native ``/v1`` routes; ``dialects``: Fax.Plus, Telnyx, Dropbox Fax
- ``models``: request and response bodies, limits, the fax status set
- ``errors``: ``ApiError`` and ``install_error_handlers`` (every error is ``{"error", "description"}`` JSON)
"""
