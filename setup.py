"""Only here because cffi hooks into setuptools through ``cffi_modules``; metadata is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["sip/fax/_build.py:ffibuilder"])
