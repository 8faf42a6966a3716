# The reccontrol daemon. Build from the repository root:
#   podman build -f docker/controller.Dockerfile -t reccontrol .
#   (docker build works the same; --build-arg BASE=... picks another Debian image)
#
# The daemon runs as the user reccontrol (uid RECCONTROL_UID) whose primary group is
# asterisk (gid ASTERISK_GID). asterisk.Dockerfile gives its asterisk group the same gid,
# so the daemon can read each finished recording in the shared folder (group-readable,
# 0640) and remove it from there (folder 2770). Its own files are its alone: the state
# folder and the vault are 0700, each recording in the vault 0600.
ARG BASE=debian:sid-slim
FROM ${BASE}
ARG ASTERISK_GID=990
ARG RECCONTROL_UID=991
# Users first: a package installed later never takes these ids.
RUN groupadd --system --gid "${ASTERISK_GID}" asterisk \
    && useradd --system --uid "${RECCONTROL_UID}" --gid asterisk --no-create-home \
       --home-dir /var/lib/reccontrol --shell /usr/sbin/nologin reccontrol \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*
# Dependencies in a layer of their own: a code change rebuilds only the last layers.
# EXTRAS: optional extras, comma-separated (postgresql: a store several nodes share).
ARG EXTRAS=""
COPY pyproject.toml /src/
RUN python3 -m venv /opt/reccontrol \
    && EXTRAS="${EXTRAS}" python3 -c "import os, tomllib; p = tomllib.load(open('/src/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + [d for e in os.environ['EXTRAS'].split(',') if e for d in p['optional-dependencies'][e]]))" > /src/requirements.txt \
    && /opt/reccontrol/bin/pip install --no-cache-dir --quiet -r /src/requirements.txt setuptools
COPY README.md /src/
COPY controller /src/controller
RUN /opt/reccontrol/bin/pip install --no-cache-dir --quiet --no-deps --no-build-isolation /src \
    && ln -s /opt/reccontrol/bin/reccontrol /usr/local/bin/reccontrol \
    && install -d -o reccontrol -g asterisk -m 0700 /var/lib/reccontrol /var/lib/reccontrol/vault \
       /var/log/reccontrol-witness \
    && install -d -m 0755 /etc/reccontrol
USER reccontrol
WORKDIR /var/lib/reccontrol
# The YAML and the secrets it names (ARI password, HMAC key, audit key) are mounted at
# run time. The root file system can be read-only: the store, the vault and the witness
# are volumes.
# The log goes to stdout and stderr, for `podman logs` / `docker logs`.
ENTRYPOINT ["reccontrol", "run", "-c", "/etc/reccontrol/reccontrol.yaml"]
