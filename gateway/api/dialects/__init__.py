"""Provider dialects: the same faxes, shaped as Fax.Plus v3, Telnyx v2 and Dropbox Fax shape them, so
an application keeps its provider SDK and only changes the base URL. One module per provider, each
with its ``DIALECT`` (``gateway.api.dialect.Dialect``: a module-level router, its key scheme, its error
shape, its webhook renderer); ``gateway.api.app`` mounts them all. They know nothing of each other."""
