# Kamailio 5.6 (Debian 12's) in front of several faxgw nodes. Its configuration is rendered by
# `faxgw kamailio-config` from the nodes' faxgw.toml ([edge], [[edge.nodes]], the trunks) and mounted at
# /etc/kamailio; tests/edge/ runs the same package with the same rendered files on every change.
FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kamailio \
 && rm -rf /var/lib/apt/lists/*

EXPOSE 5060/udp 5060/tcp
ENTRYPOINT ["kamailio", "-DD", "-E", "-f", "/etc/kamailio/kamailio.cfg"]
