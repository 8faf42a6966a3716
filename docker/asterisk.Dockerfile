# Asterisk 22 with reccontrol's configuration, rendered at start from the same templates
# the sandbox uses (config/asterisk) plus the dialplan snippets (dialplan/).
#   docker build -f docker/asterisk.Dockerfile -t reccontrol-asterisk .
FROM debian:sid-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends asterisk asterisk-core-sounds-en-gsm \
       asterisk-core-sounds-fr-gsm asterisk-moh-opsound-gsm python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY controller /src/controller
COPY config/asterisk /src/config/asterisk
COPY dialplan /src/dialplan
RUN python3 -m venv /opt/reccontrol && /opt/reccontrol/bin/pip install --no-cache-dir /src
COPY docker/asterisk-entrypoint.sh /usr/local/bin/asterisk-entrypoint
ENV RECCONTROL_ASTERISK_CONFIG=/src/config/asterisk RECCONTROL_DIALPLAN_DIR=/src/dialplan
ENTRYPOINT ["/usr/local/bin/asterisk-entrypoint"]
