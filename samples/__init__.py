"""The sample document, installed as the package ``gateway.samples`` (see pyproject.toml) so that
``faxgw demo`` finds its default document with importlib.resources."""
