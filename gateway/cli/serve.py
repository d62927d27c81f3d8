"""``faxgw serve``: the gateway - REST API, jobs and the SIP engine - until stopped.

Ctrl-C (SIGINT) stops it at once. SIGTERM drains it first (``Gateway.drain``): no new faxes claimed, new
calls and OPTIONS answered 503 so that the edge sends calls to other nodes, the calls in flight go on to
their end (up to ``drain_timeout`` seconds), and then it stops and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from pathlib import Path

from faxgw.gateway.cli import workers
from faxgw.gateway.config import Config, ConfigError, load_config
from faxgw.gateway.console import serving  # the API with the console mounted
from faxgw.gateway.service import Gateway
from faxgw.gateway.smtp import listening


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", help="run the gateway (REST API + SIP engine)")
    parser.add_argument(
        "--config", type=Path, help="TOML file (see faxgw.sample.toml); FAXGW_* variables override"
    )
    parser.add_argument(
        "--workers",
        type=workers.count,
        default=1,
        metavar="N",
        help="N nodes on this machine, node i on sip_port + i and api_port + i (N > 1 needs database_url)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    workers.follow_parent()
    try:
        config = load_config(args.config)
        nodes = workers.plan(config, args.workers) if args.workers > 1 else []
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if nodes:
        return workers.supervise(nodes, args)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(config))
    return 0


async def _serve(config: Config) -> int:
    gateway = Gateway(config)
    try:
        await gateway.start()
    except (ConfigError, OSError) as error:  # a TLS certificate that does not load, a port already taken
        print(f"error: {error}", file=sys.stderr)
        await gateway.stop()
        return 2
    try:
        async with (
            serving(gateway, config.api_host, config.api_port, log_level="info"),
            listening(gateway),  # the SMTP listener (e-mail to fax), when [mail] listen_port is set
        ):
            # What start-up made (modules, the app and its models, the config: ~100,000 objects) lives as
            # long as the process; frozen, the collector's full passes no longer walk it. They took 50 to
            # 170 ms each, every few seconds under API load, stopping every request (bench/rest_api.py).
            gc.collect()
            gc.freeze()
            # uvicorn takes SIGINT and SIGTERM while it serves (it stops the API, then raises the signal
            # again). SIGTERM is ours instead: the API keeps answering while the node drains.
            terminated = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
            await terminated.wait()  # or until interrupted (SIGINT cancels this)
            await gateway.drain(config.drain_timeout)
    except OSError as error:  # the SMTP listener's port already taken, its certificate unreadable
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        await gateway.stop()
    return 0
