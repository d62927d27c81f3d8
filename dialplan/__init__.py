"""Asterisk's configuration templates, installed as the package ``gateway.dialplan`` (see
pyproject.toml) so that ``gateway.asterisk.render`` reads them with importlib.resources."""
