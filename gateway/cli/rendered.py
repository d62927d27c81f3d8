"""What the commands that render a peer's configuration from the gateway's share (``asterisk-config``,
``kamailio-config``): the same options, the same errors, each file written printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from faxgw.gateway.config import Config, ConfigError, load_config

Renderer = Callable[[Config, Path], list[Path]]


def add_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument(
        "--config", type=Path, help="TOML file (see faxgw.sample.toml); FAXGW_* variables override"
    )
    parser.add_argument("--out", type=Path, required=True, help=out_help)


def write(render: Renderer, args: argparse.Namespace) -> int:
    """Render into ``args.out``: 0, or 2 for a configuration it cannot render, 1 for a file not written."""
    try:
        paths = render(load_config(args.config), args.out)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0
