"""The diagnostics settings ([diagnostics]): whether a failed call leaves a packet capture behind."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DiagnosticsConfig:
    #: Write a pcap of each failed call's own packets (its SIP messages, RTP and UDPTL) to
    #: data_dir/pcap/<Call-ID>.pcap, named in the attempt's diagnostics. Off by default: the packets are
    #: the faxed pages, and they are kept in memory while every call runs.
    pcap_failed_calls: bool = False
