# Asterisk 22 with reccontrol's configuration, rendered at start from the same templates
# the sandbox uses (config/asterisk) plus the dialplan snippets (dialplan/).
#   podman build -f docker/asterisk.Dockerfile -t reccontrol-asterisk .
#
# The asterisk group gets the gid ASTERISK_GID before the package is installed, the
# same gid as in controller.Dockerfile: the daemon's user is in that group.
ARG BASE=debian:sid-slim
FROM ${BASE}
ARG ASTERISK_GID=990
ARG ASTERISK_UID=990
RUN groupadd --system --gid "${ASTERISK_GID}" asterisk \
    && useradd --system --uid "${ASTERISK_UID}" --gid asterisk --no-create-home \
       --home-dir /var/lib/asterisk --shell /usr/sbin/nologin asterisk \
    && apt-get update \
    && apt-get install -y --no-install-recommends asterisk asterisk-core-sounds-en-gsm \
       asterisk-core-sounds-fr-gsm asterisk-moh-opsound-gsm python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml /src/
RUN python3 -m venv /opt/reccontrol \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" > /src/requirements.txt \
    && /opt/reccontrol/bin/pip install --no-cache-dir --quiet -r /src/requirements.txt setuptools
COPY README.md /src/
COPY controller /src/controller
RUN /opt/reccontrol/bin/pip install --no-cache-dir --quiet --no-deps --no-build-isolation /src
COPY config/asterisk /src/config/asterisk
COPY dialplan /src/dialplan
COPY docker/asterisk-entrypoint.sh /usr/local/bin/asterisk-entrypoint
ENV RECCONTROL_ASTERISK_CONFIG=/src/config/asterisk RECCONTROL_DIALPLAN_DIR=/src/dialplan
ENTRYPOINT ["/usr/local/bin/asterisk-entrypoint"]
