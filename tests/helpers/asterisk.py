"""A real Asterisk 22 with res_fax_spandsp for tests: the Debian sid chroot of scripts/asterisk-chroot,
its running instances, and the Asterisk prototype's configuration.

`prototype_configs(ami_port=..., sip_port=...)` gives the configuration of the Asterisk prototype
(AMI user faxgw, PJSIP endpoint faxpeer looping to itself, [fax-in]/[fax-out] dialplan) until the
gateway renders its own; `start_asterisk(asterisk, config)` boots an Asterisk configured by the
gateway's own renderer and points the gateway's spool at it; `final(gateway, fax_id)` waits for a fax
to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from faxgw.gateway.asterisk.render import render_texts
from faxgw.gateway.config import Config
from faxgw.gateway.service import Gateway

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "asterisk-chroot"
CANNOT_BUILD = 3  # exit status of `asterisk-chroot ensure` when this machine cannot build the chroot
INSTANCE_DIRS = ("etc", "lib", "cache", "spool", "run", "log", "data/in", "data/out")

AMI_USER = "faxgw"
AMI_SECRET = "faxgw-secret"
#: asterisk.root of a gateway config to render for a test instance: start_asterisk puts the instance's in.
PLACEHOLDER = "/opt/faxtest-placeholder"

# Printed at the end of the pytest run (pytest_terminal_summary in tests/asterisk/conftest.py).
TIMINGS: list[str] = []


@dataclass
class EnsureResult:
    returncode: int
    root: Path | None
    how: str  # "built", "restored from <tarball>", "already present", or "" when it failed
    seconds: float
    stderr: str

    @property
    def reason(self) -> str:
        """The script's own last word on why it failed."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("asterisk-chroot:")]
        return lines[-1] if lines else self.stderr.strip()[-500:]


def ensure(root: Path | None = None) -> EnsureResult:
    """Run `scripts/asterisk-chroot ensure [root]` and time it."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(SCRIPT), "ensure", *([str(root)] if root else [])],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.monotonic() - started
    how = re.search(r"ready \((built|restored from \S+|already present),", proc.stderr)
    out = proc.stdout.strip().splitlines()
    return EnsureResult(
        returncode=proc.returncode,
        root=Path(out[-1]) if proc.returncode == 0 and out else None,
        how=how.group(1) if how else "",
        seconds=seconds,
        stderr=proc.stderr,
    )


@dataclass
class AsteriskInstance:
    """One running Asterisk in the chroot. Paths are host-side unless named *_inside."""

    root: Path  # the chroot
    base_inside: str  # the instance's directory as the chroot sees it, e.g. /opt/faxtest-1a2b3c
    pid: int
    boot_seconds: float
    stopped: bool = False

    def host(self, inside: str) -> Path:
        """Host path of a path inside the chroot."""
        return self.root / inside.lstrip("/")

    def inside(self, host_path: Path | str) -> str:
        """Chroot path of a host path below the chroot (what to hand to Asterisk, e.g. a fax file)."""
        return "/" + str(Path(host_path).resolve().relative_to(self.root.resolve()))

    @property
    def base(self) -> Path:
        return self.host(self.base_inside)

    @property
    def etc_inside(self) -> str:
        return f"{self.base_inside}/etc"

    @property
    def etc_dir(self) -> Path:
        return self.base / "etc"

    @property
    def lib_dir(self) -> Path:
        return self.base / "lib"

    @property
    def spool_dir(self) -> Path:
        return self.base / "spool"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def log_dir(self) -> Path:
        return self.base / "log"

    @property
    def data_dir(self) -> Path:
        """data/in and data/out: where the prototype dialplan receives and sends faxes."""
        return self.base / "data"

    @property
    def console_log(self) -> Path:
        """Asterisk's console output, kept by scripts/asterisk-chroot start."""
        key = re.sub(r"[^A-Za-z0-9._-]", "_", self.etc_inside)
        return self.root / "run" / "faxgw-asterisk" / f"{key}.console.log"

    def cli(self, command: str, timeout: float = 15) -> str:
        """`asterisk -rx COMMAND` inside the chroot, against this instance's control socket."""
        proc = subprocess.run(
            [
                "chroot",
                str(self.root),
                "/usr/sbin/asterisk",
                "-C",
                f"{self.etc_inside}/asterisk.conf",
                "-rx",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"asterisk -rx {command!r} failed ({proc.returncode}): {proc.stderr}{proc.stdout}"
            )
        return proc.stdout

    def running(self) -> bool:
        return process_running(self.pid)

    def stop(self) -> None:
        """`scripts/asterisk-chroot stop`: core stop now, SIGTERM to our PID if it lingers."""
        if self.stopped:
            return
        proc = subprocess.run(
            [str(SCRIPT), "stop", str(self.root), self.etc_inside],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"stopping asterisk pid {self.pid} failed: {proc.stderr}")
        self.stopped = True


def start_asterisk(asterisk: Callable[[Mapping[str, str]], AsteriskInstance], config: Config) -> Config:
    """Render Asterisk's configuration from ``config`` (asterisk.root = PLACEHOLDER), boot it with the
    ``asterisk`` fixture, and point the gateway's spool at the instance: the config to start it with."""
    texts = render_texts(config)
    instance = asterisk({name: text.replace(PLACEHOLDER, "@BASE@") for name, text in texts.items()})
    spool_inside = Path(instance.base_inside) / "data"
    settings = dataclasses.replace(
        config.asterisk,
        root=Path(instance.base_inside),
        spool_dir=spool_inside,
        local_spool_dir=instance.host(str(spool_inside)),
    )
    return dataclasses.replace(config, asterisk=settings)


async def final(gateway: Gateway, fax_id: str, timeout: float = 240) -> dict:
    """The fax as the store has it once it has ended (as a dict)."""
    async with asyncio.timeout(timeout):
        while (fax := await gateway.store.get_fax(fax_id)).status in (
            "queued",
            "processing",
            "sending",
            "in_progress",
        ):
            await asyncio.sleep(0.5)
    return dataclasses.asdict(fax)


def process_running(pid: int) -> bool:
    """True while PID exists and has not exited (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def default_asterisk_conf() -> str:
    """asterisk.conf keeping all of Asterisk's state in the instance directory. The section must be
    [directories]: the sample's "[directories](!)" is a template, silently ignored."""
    return (
        "[directories]\n"
        "astetcdir => @BASE@/etc\n"
        "astvarlibdir => @BASE@/lib\n"
        "astdbdir => @BASE@/lib\n"
        "astkeydir => @BASE@/lib\n"
        "astcachedir => @BASE@/cache\n"
        "astspooldir => @BASE@/spool\n"
        "astrundir => @BASE@/run\n"
        "astlogdir => @BASE@/log\n"
        "\n"
        "[options]\n"
        "; runs as root inside the chroot: the chroot's uid 'asterisk' is another user on the host\n"
        "systemname = faxtest\n"
        "cache_media_frames = yes\n"
    )


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 free right now for TCP (SOCK_STREAM) or UDP (SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prototype_configs(*, ami_port: int, sip_port: int) -> dict[str, str]:
    """The Asterisk prototype's configuration (shared/prototypes/asterisk/conf), on the given ports, with
    its /opt/fax tree moved to the instance directory. asterisk.conf comes from default_asterisk_conf()."""
    modules_noload = [
        *("chan_iax2", "chan_unistim", "chan_mgcp", "chan_skinny", "chan_console", "chan_alsa", "chan_oss"),
        *("chan_motif", "res_hep", "res_hep_pjsip", "res_hep_rtcp", "res_snmp", "res_xmpp", "res_calendar"),
        *("res_calendar_caldav", "res_calendar_ews", "res_calendar_exchange", "res_calendar_icalendar"),
        *("res_config_ldap", "res_config_pgsql", "res_config_odbc", "res_odbc", "res_odbc_transaction"),
        *("cdr_odbc", "cdr_pgsql", "cdr_radius", "cdr_tds", "cel_odbc", "cel_pgsql", "cel_radius", "cel_tds"),
        *("res_phoneprov", "res_pjsip_phoneprov_provider", "res_smdi", "res_stir_shaken", "pbx_dundi"),
        *("res_statsd", "res_prometheus", "app_voicemail", "app_voicemail_imap", "app_voicemail_odbc"),
    ]
    modules = "[modules]\nautoload = yes\n" + "".join(f"noload => {m}.so\n" for m in modules_noload)
    return {
        "modules.conf": modules,
        "logger.conf": (
            "[general]\ndateformat = %F %T.%3q\n[logfiles]\n"
            "console => notice,warning,error,verbose(3)\n"
            "messages.log => notice,warning,error,verbose(4)\n"
        ),
        "manager.conf": (
            f"[general]\nenabled = yes\nport = {ami_port}\nbindaddr = 127.0.0.1\ndisplayconnects = yes\n\n"
            f"[{AMI_USER}]\nsecret = {AMI_SECRET}\ndeny = 0.0.0.0/0.0.0.0\n"
            "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = all\nwritetimeout = 5000\n"
        ),
        "pjsip.conf": (
            "[global]\ntype = global\nuser_agent = ProtoFax-Asterisk\n"
            "endpoint_identifier_order = ip,username\n\n"
            f"[transport-udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:{sip_port}\n\n"
            "; one endpoint for both legs of the loop-back call (identified by source IP 127.0.0.1)\n"
            "[faxpeer]\ntype = endpoint\ntransport = transport-udp\ncontext = fax-in\ndisallow = all\n"
            "allow = ulaw,alaw\ndirect_media = no\nrtp_symmetric = yes\nt38_udptl = yes\n"
            "t38_udptl_ec = redundancy\nt38_udptl_maxdatagram = 400\nt38_udptl_nat = no\nfax_detect = no\n"
            "aors = faxpeer\n\n"
            f"[faxpeer]\ntype = aor\ncontact = sip:127.0.0.1:{sip_port}\nqualify_frequency = 0\n\n"
            "[faxpeer]\ntype = identify\nendpoint = faxpeer\nmatch = 127.0.0.1\n"
        ),
        "res_fax.conf": (
            "[general]\nmaxrate = 14400\nminrate = 2400\nstatusevents = yes\nmodems = v17,v27,v29\n"
            "ecm = yes\nt38timeout = 5000\n"
        ),
        "rtp.conf": "[general]\nrtpstart = 31000\nrtpend = 31200\n",
        "udptl.conf": "[general]\nudptlstart = 32000\nudptlend = 32200\n",
        "extensions.conf": PROTOTYPE_EXTENSIONS,
    }


# Dialplan pattern letters X, Z and N are wildcards: hence "_rcv!", not "_rx!".
PROTOTYPE_EXTENSIONS = r"""[general]
static = yes
writeprotect = yes

; inbound leg (PJSIP loop or Local): receive into @BASE@/data/in
[fax-in]
exten => _rcv!,1,NoOp(ReceiveFAX start ${CHANNEL} exten=${EXTEN})
 same => n,Set(FAXOPT(localstationid)=PROTO-RX)
 same => n,Set(FAXOPT(ecm)=yes)
 same => n,Set(RXFILE=@BASE@/data/in/${EXTEN}-${UNIQUEID}.tif)
 same => n,Set(FAXOP=receive)
 same => n,Set(CHANNEL(hangup_handler_push)=fax-result,s,1)
 same => n,ReceiveFAX(${RXFILE},fs)
 same => n,NoOp(RX done FAXSTATUS=${FAXSTATUS} FAXERROR=${FAXERROR} PAGES=${FAXPAGES} MODE=${FAXMODE} RATE=${FAXBITRATE} RES=${FAXRESOLUTION} REMOTE=${REMOTESTATIONID})
 same => n,Hangup()

; outbound leg: send ${FAXFILE} (an AMI Originate variable)
[fax-out]
exten => send,1,NoOp(SendFAX start ${CHANNEL} file=${FAXFILE})
 same => n,Set(FAXOPT(localstationid)=PROTO-TX)
 same => n,Set(FAXOPT(headerinfo)=ProtoFax test)
 same => n,Set(FAXOPT(ecm)=yes)
 same => n,Set(FAXOP=send)
 same => n,Set(CHANNEL(hangup_handler_push)=fax-result,s,1)
 same => n,SendFAX(${FAXFILE},fs)
 same => n,NoOp(TX done FAXSTATUS=${FAXSTATUS} FAXERROR=${FAXERROR} PAGES=${FAXPAGES} MODE=${FAXMODE} RATE=${FAXBITRATE})
 same => n,Hangup()

[faxout-local]
exten => send,1,Goto(fax-out,send,1)
[faxin-local]
exten => _rcv!,1,Goto(fax-in,${EXTEN},1)

; one FaxResult UserEvent per leg, on failure too (SendFAX/ReceiveFAX events come only on success)
[fax-result]
exten => s,1,UserEvent(FaxResult,Op: ${FAXOP},Status: ${FAXSTATUS},Error: ${FAXERROR},StatusString: ${FAXSTATUSSTRING},Pages: ${FAXPAGES},Mode: ${FAXMODE},Bitrate: ${FAXBITRATE},Resolution: ${FAXRESOLUTION},RemoteStationID: ${REMOTESTATIONID},LocalStationID: ${LOCALSTATIONID},File: ${IF($["${FAXOP}" = "send"]?${FAXFILE}:${RXFILE})},HangupCause: ${HANGUPCAUSE})
 same => n,Return()
"""  # noqa: E501 (dialplan lines cannot be wrapped)
