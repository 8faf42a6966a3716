# The reccontrol daemon. Build from the repository root:
#   docker build -f docker/controller.Dockerfile -t reccontrol .
FROM python:3.11-slim
COPY pyproject.toml README.md /src/
COPY controller /src/controller
RUN pip install --no-cache-dir /src \
    && useradd --system --uid 990 --gid 0 --home /var/lib/reccontrol reccontrol \
    && install -d -o reccontrol -m 0750 /var/lib/reccontrol /var/lib/reccontrol/recordings
USER reccontrol
# The YAML and the secrets it names (ARI password, HMAC key...) are mounted at run time.
ENTRYPOINT ["reccontrol", "run", "-c", "/etc/reccontrol/reccontrol.yaml"]
