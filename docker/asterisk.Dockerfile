# Asterisk 22 with res_fax_spandsp, for faxgw's Asterisk engine. No Docker engine runs where this
# project is developed and tested, so this file is kept an exact copy of what scripts/asterisk-chroot
# does (the recipe the tests run against a real Asterisk on every CI run): Debian sid, because stable
# has no asterisk package; services never started by apt; no recommends; asterisk + asterisk-modules.
FROM debian:sid

RUN printf '#!/bin/sh\n# never start services in this image\nexit 101\n' >/usr/sbin/policy-rc.d \
 && chmod 755 /usr/sbin/policy-rc.d \
 && printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' >/etc/apt/apt.conf.d/99faxgw \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends asterisk asterisk-modules \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

# The configuration comes from `faxgw asterisk-config --config faxgw.toml --out ./asterisk-etc`
# (mounted at /opt/fax/etc); fax files are exchanged with the gateway through /opt/fax/data.
RUN mkdir -p /opt/fax/etc /opt/fax/lib /opt/fax/cache /opt/fax/spool /opt/fax/run /opt/fax/log \
             /opt/fax/data/in /opt/fax/data/out
VOLUME ["/opt/fax/etc", "/opt/fax/data"]
EXPOSE 5060/udp 5038 10000-20000/udp 4000-4999/udp
CMD ["/usr/sbin/asterisk", "-C", "/opt/fax/etc/asterisk.conf", "-f", "-n"]
