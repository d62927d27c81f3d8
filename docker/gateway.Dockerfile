# The faxgw gateway. No Docker engine runs where this project is developed and tested, so this file is
# kept an exact copy of what scripts/install does on Debian 12 (the recipe CI runs on every change):
# the same Debian packages, then the project installed with pip (which builds the SpanDSP binding).
FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config python3-dev python3-venv \
      libspandsp-dev libtiff-dev libtiff-tools \
      ghostscript fonts-dejavu-core \
      libpq5 \
      libreoffice-writer-nogui libreoffice-calc-nogui \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/faxgw
COPY pyproject.toml setup.py README.md ./
COPY gateway ./gateway
COPY sip ./sip
COPY dialplan ./dialplan
COPY samples ./samples
RUN python3 -m venv /opt/faxgw/.venv && /opt/faxgw/.venv/bin/pip install --no-cache-dir .

# Data (SQLite, uploads, fax images) and the spool shared with Asterisk live in volumes.
VOLUME ["/var/lib/faxgw", "/var/spool/faxgw"]
ENV FAXGW_DATA_DIR=/var/lib/faxgw FAXGW_API_HOST=0.0.0.0
EXPOSE 8080 5060/udp
ENTRYPOINT ["/opt/faxgw/.venv/bin/faxgw"]
CMD ["serve", "--config", "/etc/faxgw/faxgw.toml"]
